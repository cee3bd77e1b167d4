"""The history of sync cycles behind the health dashboard: one `SyncRun` per cycle, a week long.

The engine calls `record_sync_run` at the end of each cycle that ran. Retention is bounded
where the rows are written: each call also deletes that mailbox's runs older than
`RETENTION`, so the table holds at most a week of cycles per mailbox without a beat task;
`delete_old_sync_runs` does the same for every mailbox (for a periodic task or a shell).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, transaction
from django.utils import timezone

from mailboxes.models import Mailbox, SyncRun

logger = logging.getLogger(__name__)

RETENTION = timedelta(days=7)
ERROR_TEXT_LIMIT = 4000

Outcome = SyncRun.Outcome


def outcome_of(error: BaseException | None) -> str:
    """The run outcome for the error a cycle ended with (None: success)."""
    from mailboxes.sync.errors import PermanentSyncError

    if error is None:
        return Outcome.SUCCESS
    if isinstance(error, PermanentSyncError):
        return Outcome.PERMANENT
    return Outcome.TRANSIENT


def record_sync_run(
    mailbox: Mailbox | int,
    started_at: datetime,
    duration_ms: int,
    processed: int,
    failed: int,
    outcome: str,
    error: str = "",
) -> SyncRun | None:
    """Store one finished cycle and drop the mailbox's runs older than the retention.

    Never raises a database error: losing one history row must not fail a sync cycle.
    """
    mailbox_id = mailbox if isinstance(mailbox, int) else mailbox.pk
    if outcome not in Outcome.values:
        raise ValueError(f"unknown sync run outcome {outcome!r}")
    duration_ms = max(int(duration_ms), 0)
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                mailbox_id=mailbox_id,
                started_at=started_at,
                finished_at=started_at + timedelta(milliseconds=duration_ms),
                duration_ms=duration_ms,
                items_processed=max(int(processed), 0),
                items_failed=max(int(failed), 0),
                outcome=outcome,
                error_text=error[:ERROR_TEXT_LIMIT],
            )
            SyncRun.objects.filter(
                mailbox_id=mailbox_id, started_at__lt=timezone.now() - RETENTION
            ).delete()
    except DatabaseError:
        logger.exception("mailbox %s: could not record the sync run", mailbox_id)
        return None
    return run


def delete_old_sync_runs(*, older_than: timedelta = RETENTION) -> int:
    """Delete every mailbox's runs older than `older_than`; returns how many were deleted."""
    deleted, _ = SyncRun.objects.filter(started_at__lt=timezone.now() - older_than).delete()
    return deleted
