"""Make mailboxes due now and enqueue one dispatch of their profiles: what a change
notification, a `missed` lifecycle event and a new subscription do. Below the notification
view and the subscription upkeep alike, so neither imports the other."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from mailboxes.models import Mailbox

logger = logging.getLogger(__name__)


def dispatch_now(mailbox_ids: Iterable[int]) -> None:
    """Make the mailboxes due now and enqueue a dispatch of their profiles, once per burst."""
    now = timezone.now()
    profiles: set[int] = set()
    for mailbox_id in sorted(set(mailbox_ids)):
        # Only pulls the next run forward (an already due mailbox has its dispatch coming),
        # never for a mailbox in error back-off.
        moved = Mailbox.objects.filter(
            id=mailbox_id, next_due_at__gt=now, transient_failure_count=0
        ).update(next_due_at=now)
        if moved:
            profile_id = (
                Mailbox.objects.filter(id=mailbox_id).values_list("profile_id", flat=True).first()
            )
            if profile_id is not None:
                profiles.add(profile_id)
    for profile_id in sorted(profiles):
        transaction.on_commit(functools.partial(_enqueue_dispatch, profile_id))


def _enqueue_dispatch(profile_id: int) -> None:
    from mailboxes.tasks import dispatch_due_mailboxes

    try:
        # No retries: a broker that does not answer must not hold Graph's request past its
        # 3 seconds; beat's next dispatch finds the mailbox due anyway.
        dispatch_due_mailboxes.apply_async((profile_id,), retry=False)
    except Exception:
        logger.exception("dispatch of profile %s not enqueued; beat will find it due", profile_id)
