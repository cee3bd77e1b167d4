"""Saving new credentials restarts mailboxes that the server stopped for refusing the old ones.

An authentication failure (`ErrorKind.AUTHENTICATION`) fails the mailbox's channels and is
never retried on its own, so that a changed password does not lock the account out. A
person fixes it by saving new credentials (the mailbox's, or its profile's service account)
or by a passing Test & enable; `mailboxes/signals.py` calls `lift_authentication_failures`
when the credentials of a mailbox or a profile are saved with a different value.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from mailboxes import channels
from mailboxes.connectors import ErrorKind
from mailboxes.models import Mailbox

Status = Mailbox.ChannelStatus


def lift_authentication_failures(mailboxes: QuerySet[Mailbox]) -> int:
    """Make these mailboxes' channels stopped by an authentication failure run again now."""
    with transaction.atomic():
        stopped = mailboxes.filter(last_error_kind=ErrorKind.AUTHENTICATION)
        ids = list(stopped.select_for_update().values_list("id", flat=True))
        if not ids:
            return 0
        rows = Mailbox.objects.filter(id__in=ids)
        for channel in channels.CHANNELS:
            rows.filter(**{channel.status_field: Status.FAILURE}).update(
                **{channel.status_field: Status.NOT_RUN}
            )
        rows.update(
            last_error_kind="",
            transient_failure_count=0,
            next_due_at=timezone.now(),
            **{channel.postpone_field: None for channel in channels.CHANNELS},
        )
    return len(ids)
