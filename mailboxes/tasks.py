"""Celery tasks: thin, they take ids and call the engine.

Beat runs `dispatch_due_mailboxes` every 30 s; it claims the mailboxes that are due within
their profiles' connection budgets and enqueues one `sync_mailbox` per mailbox. Each
`sync_mailbox`, when done, dispatches its profile again, so a profile's queue keeps flowing
between beats (under a backlog, a tenth of the profile's connections at a time:
`scheduling.refill_batch`).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

# The whole engine (exchangelib, the converters) is imported as the worker starts, not
# by its first cycle.
import mailboxes.sync.act  # noqa: F401
from mailboxes.models import Mailbox
from mailboxes.sync import scheduling
from mailboxes.sync.cycle import run_cycle
from mailboxes.sync.errors import SyncError

logger = logging.getLogger(__name__)


def _enqueue(claims: list[scheduling.Claim]) -> None:
    for claim in claims:
        sync_mailbox.delay(claim.mailbox_id, claim.token)


@shared_task(name="mailboxes.tasks.dispatch_due_mailboxes", ignore_result=True)
def dispatch_due_mailboxes(profile_id: int | None = None, refill: bool = False) -> int:
    """Claim due mailboxes (of one profile, or all) and enqueue one sync task for each;
    `refill`: a task's dispatch as it finishes (`scheduling.claim_due_mailboxes`)."""
    claims = scheduling.claim_due_mailboxes(profile_id=profile_id, refill=refill)
    # Enqueue after the claims are committed, or a fast worker would not see them.
    transaction.on_commit(lambda: _enqueue(claims))
    if claims:
        logger.info("dispatched %s mailboxes", len(claims))
    return len(claims)


@shared_task(name="mailboxes.tasks.sync_mailbox", ignore_result=True)
def sync_mailbox(mailbox_id: int, claim_token: str | None = None, full: bool = False) -> str:
    """Run one cycle of the mailbox; `claim_token` is the dispatcher's claim, if it made one."""
    result = run_cycle(mailbox_id, queued_token=claim_token, full_resync=full)
    if result.gone:
        logger.info("mailbox %s is gone; nothing to sync", mailbox_id)
        return "gone"
    if not result.ran:
        logger.info("mailbox %s skipped: %s", mailbox_id, result.reason)
        if claim_token is None and not result.refused and not result.nothing_to_run:
            # "Sync now" found the mailbox busy or the profile full: make it due at once.
            scheduling.make_due_now(mailbox_id)
    else:
        logger.info(
            "mailbox %s synced: %s processed, %s failed, %s ms%s",
            mailbox_id,
            result.items_processed,
            result.items_failed,
            result.duration_ms,
            f", error {result.error.code}" if result.error else "",
        )
    if result.profile_id is not None:
        dispatch_due_mailboxes(result.profile_id, refill=True)
    return "ran" if result.ran else "skipped"


@shared_task(name="mailboxes.tasks.full_resync_mailbox", ignore_result=True)
def full_resync_mailbox(mailbox_id: int) -> str:
    """Forget the stored sync states and pull everything again, matching existing records."""
    return str(sync_mailbox(mailbox_id, None, True))


@shared_task(name="mailboxes.tasks.track_processed_message", ignore_result=True)
def track_processed_message(record_id: int, user_id: int | None = None) -> str:
    """ "Track it now": file a message that was left out as irrelevant."""
    from mailboxes.mail.track_on_request import track_requested

    outcome = track_requested(record_id, user_id)
    logger.info("processed message %s: %s on request", record_id, outcome)
    return outcome


@shared_task(name="mailboxes.tasks.test_and_enable_mailbox", ignore_result=True)
def test_and_enable_mailbox(mailbox_id: int) -> str:
    from mailboxes.sync.testing import test_and_enable

    mailbox = Mailbox.objects.select_related("profile").filter(id=mailbox_id).first()
    if mailbox is None:
        logger.info("mailbox %s is gone; nothing to test", mailbox_id)
        return "gone"
    return test_and_enable(mailbox).status


@shared_task(name="mailboxes.tasks.test_profile", ignore_result=True)
def test_profile(profile_id: int) -> str:
    from mailboxes.sync.testing import test_profile_mailboxes
    from profiles.models import EmailServerProfile

    profile = EmailServerProfile.objects.filter(id=profile_id).first()
    if profile is None:
        logger.info("profile %s is gone; nothing to test", profile_id)
        return "gone"
    return test_profile_mailboxes(profile)


@shared_task(name="mailboxes.tasks.list_exchange_folders", ignore_result=True)
def list_exchange_folders(mailbox_id: int) -> str:
    """List the mail folders under the mailbox's Inbox and store them for the pages."""
    from mailboxes.folder_listing import refresh_folder_listing

    return refresh_folder_listing(mailbox_id)


@shared_task(name="mailboxes.tasks.delete_old_sync_runs", ignore_result=True)
def delete_old_sync_runs() -> int:
    """Keep the sync history bounded, including mailboxes that no longer sync."""
    from mailboxes.history import delete_old_sync_runs as delete_runs

    deleted = delete_runs()
    logger.info("deleted %s sync run(s) older than the retention period", deleted)
    return deleted


@shared_task(name="mailboxes.tasks.delete_orphan_files", ignore_result=True)
def delete_orphan_files() -> int:
    """Remove stored files that no row references (a process died between writing the file
    and its row), after a grace period."""
    from crmsync.orphan_files import delete_orphan_files as delete_files

    return delete_files()


@shared_task(name="mailboxes.tasks.forget_old_processed_reasons", ignore_result=True)
def forget_old_processed_reasons() -> int:
    """Blank the "why was this not tracked?" details past CRMSYNC_PROCESSED_REASON_DAYS."""
    from mailboxes.mail.reasons import forget_old_reasons

    forgotten = forget_old_reasons()
    logger.info("forgot the details of %s processed message(s) past the retention", forgotten)
    return forgotten


@shared_task(name="mailboxes.tasks.move_mailbox_to_graph", ignore_result=True)
def move_mailbox_to_graph(mailbox_id: int, profile_id: int) -> str:
    """The admin action's move (mailboxes/sync/move_to_graph); an alert says how it went."""
    from mailboxes.models import Alert
    from mailboxes.sync.move_to_graph import MoveRefused, move_to_graph
    from profiles.models import EmailServerProfile

    mailbox = Mailbox.objects.select_related("profile").filter(id=mailbox_id).first()
    target = EmailServerProfile.objects.filter(id=profile_id).first()
    if mailbox is None or target is None:
        logger.info("mailbox %s or profile %s is gone; nothing to move", mailbox_id, profile_id)
        return "gone"
    try:
        result = move_to_graph(mailbox, target)
    except (MoveRefused, SyncError) as exc:
        Alert.objects.create(
            mailbox=mailbox,
            severity=Alert.Severity.ERROR,
            code="move_to_graph_refused",
            message=f"{mailbox.email_address} was not moved to {target}: {exc}",
        )
        return "refused"
    Alert.objects.create(
        mailbox=mailbox,
        severity=Alert.Severity.INFO,
        code="moved_to_graph",
        message=f"{mailbox.email_address} moved to {target}: {result.describe()}.",
    )
    return "moved"
