"""record_sync_run: one row per cycle, a week of them per mailbox."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mailboxes.connectors import PermanentSyncError, TransientSyncError
from mailboxes.history import delete_old_sync_runs, outcome_of, record_sync_run
from mailboxes.models import SyncRun
from tests import factories

pytestmark = pytest.mark.django_db


def stored_run(mailbox, started) -> SyncRun:
    """A run written directly: record_sync_run would drop one older than a week at once."""
    return SyncRun.objects.create(
        mailbox=mailbox, started_at=started, finished_at=started, duration_ms=0, outcome="success"
    )


def test_a_run_is_stored_with_its_end_and_a_bounded_error() -> None:
    mailbox = factories.make_mailbox()
    started = timezone.now() - timedelta(minutes=1)

    run = record_sync_run(mailbox, started, 1500, 12, 1, "transient", "x" * 5000)

    assert run is not None
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.mailbox_id == mailbox.pk
    assert stored.finished_at - stored.started_at == timedelta(milliseconds=1500)
    assert (stored.items_processed, stored.items_failed, stored.outcome) == (12, 1, "transient")
    assert len(stored.error_text) == 4000


def test_recording_drops_the_mailbox_runs_older_than_a_week() -> None:
    mailbox, other = factories.make_mailbox(), factories.make_mailbox()
    week_old = timezone.now() - timedelta(days=7, minutes=1)
    old = stored_run(mailbox, week_old)
    recent = stored_run(mailbox, timezone.now() - timedelta(days=6))
    others_old = stored_run(other, week_old)

    record_sync_run(mailbox, timezone.now(), 10, 0, 0, "success")

    remaining = set(SyncRun.objects.values_list("pk", flat=True))
    assert old.pk not in remaining
    assert {recent.pk, others_old.pk} <= remaining


def test_delete_old_sync_runs_cleans_every_mailbox() -> None:
    week_old = timezone.now() - timedelta(days=8)
    for _ in range(3):
        stored_run(factories.make_mailbox(), week_old)
    kept = record_sync_run(factories.make_mailbox(), timezone.now(), 10, 0, 0, "success")

    assert delete_old_sync_runs() == 3
    assert kept is not None
    assert list(SyncRun.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_outcome_follows_the_error_type() -> None:
    assert outcome_of(None) == "success"
    assert outcome_of(TransientSyncError("busy", code="server_busy")) == "transient"
    assert outcome_of(PermanentSyncError("denied", code="access_denied")) == "permanent"
    assert outcome_of(RuntimeError("bug")) == "transient"


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sync run outcome"):
        record_sync_run(factories.make_mailbox(), timezone.now(), 1, 0, 0, "fine")


def test_the_periodic_task_deletes_old_runs_of_mailboxes_that_no_longer_sync() -> None:
    # given a mailbox that stopped syncing with a run older than a week, and a recent run
    from django.conf import settings

    from mailboxes.tasks import delete_old_sync_runs as periodic_task

    idle, busy = factories.make_mailbox(), factories.make_mailbox()
    stale = stored_run(idle, timezone.now() - timedelta(days=8))
    fresh = stored_run(busy, timezone.now() - timedelta(hours=1))

    # when beat's clean-up task runs
    deleted = periodic_task()

    # then only the old run is gone, and beat has the task on its schedule
    assert deleted == 1
    assert not SyncRun.objects.filter(pk=stale.pk).exists()
    assert SyncRun.objects.filter(pk=fresh.pk).exists()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "mailboxes.tasks.delete_old_sync_runs" in scheduled
