"""Who sees which CRM records: the owner, the owners and members of the owning queue, staff."""

import functools
import operator
from collections.abc import Sequence
from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from mailboxes.models import Queue
from users.models import User

M = TypeVar("M", bound=Model)


def queues_of(user: User) -> QuerySet[Queue]:
    """The queues a user owns or is a member of."""
    return Queue.objects.filter(Q(owner=user) | Q(members=user)).distinct()


def visible_owner_q(user: User, *, via: str = "") -> Q:
    """Records owned by the user or by one of the user's queues.

    `via` is a relation to the owned record (`"email"` for an attachment's email). The
    queues are a subquery, so the visibility rule costs no query of its own.
    """
    prefix = f"{via}__" if via else ""
    queue_ids = Queue.objects.filter(Q(owner=user) | Q(members=user)).values("pk")
    return Q(**{f"{prefix}owner_user": user}) | Q(**{f"{prefix}owner_queue__in": queue_ids})


def visible_to(queryset: QuerySet[M], user: User, *, via: Sequence[str] = ("",)) -> QuerySet[M]:
    """The rows of `queryset` the user may see.

    Rows that are not owned themselves are visible through the records they belong to:
    `via` names those relations, and a row is visible when any of them is.
    """
    if user.is_staff:
        return queryset
    return queryset.filter(
        functools.reduce(operator.or_, (visible_owner_q(user, via=name) for name in via))
    )


def can_use_queue(user: User, queue: Queue) -> bool:
    return user.is_staff or queues_of(user).filter(pk=queue.pk).exists()
