"""Which mailboxes a person manages in the self-service pages.

Their own, and those of the queues they own. Queue members use a queue's mailbox but do not
manage it; administrators manage every mailbox in the admin, not here.
"""

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from mailboxes.models import Mailbox
from users.models import User


def manageable_mailboxes(user: User) -> QuerySet[Mailbox]:
    return Mailbox.objects.filter(Q(user=user) | Q(queue__owner=user)).select_related(
        "profile", "user", "queue"
    )


def get_manageable_mailbox(user: User, mailbox_id: int) -> Mailbox:
    """The mailbox, or 404 when it is someone else's: its existence is not revealed."""
    return get_object_or_404(manageable_mailboxes(user), pk=mailbox_id)
