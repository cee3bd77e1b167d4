"""Who sees which CRM records: the owner, the owners and members of the owning queue, staff."""

from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from mailboxes.models import Queue
from users.models import User

M = TypeVar("M", bound=Model)


def queues_of(user: User) -> QuerySet[Queue]:
    """The queues a user owns or is a member of."""
    return Queue.objects.filter(Q(owner=user) | Q(members=user)).distinct()


def visible_owner_q(user: User) -> Q:
    """Records owned by the user or by one of the user's queues.

    The queues are a subquery, so the visibility rule costs no query of its own.
    """
    queue_ids = Queue.objects.filter(Q(owner=user) | Q(members=user)).values("pk")
    return Q(owner_user=user) | Q(owner_queue__in=queue_ids)


def visible_to(queryset: QuerySet[M], user: User) -> QuerySet[M]:
    if user.is_staff:
        return queryset
    return queryset.filter(visible_owner_q(user))


def can_use_queue(user: User, queue: Queue) -> bool:
    return user.is_staff or queues_of(user).filter(pk=queue.pk).exists()
