"""End to end with real Celery worker processes on the test database."""

import itertools
import time
from collections.abc import Callable

import pytest
from django.utils import timezone

from activities.models import Contact
from mailboxes.models import ExchangeSyncIdMapping, Mailbox, SyncRun
from mailboxes.tasks import dispatch_due_mailboxes, sync_mailbox
from tests.sync.helpers import emulated_mailbox, exchange_profile, sync
from tests.sync.workers import Workers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(
    condition: Callable[[], bool], timeout: float = 60, workers: Workers | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out" + (f"\n{workers.output()[-4000:]}" if workers else ""))
        time.sleep(0.2)


def test_two_workers_dispatch_every_due_mailbox_once_and_never_together(
    ews, workers: Workers
) -> None:
    # given six mailboxes with contacts, on a profile of two connections
    profile = exchange_profile(ews.ews_url, max_concurrent_connections=2)
    boxes = [emulated_mailbox(ews, profile=profile) for _ in range(6)]
    for box in boxes:
        ews.control.seed(box.email_address, "contacts", 30)
    workers.start(2)

    # when beat's dispatcher runs, and "sync now" is pressed twice for each mailbox meanwhile
    dispatch_due_mailboxes.delay()
    for box in boxes:
        sync_mailbox.delay(box.pk)
        sync_mailbox.delay(box.pk)

    # then every mailbox synced, each contact exactly once
    wait_for(
        lambda: all(
            m.last_success_at for m in Mailbox.objects.filter(pk__in=[b.pk for b in boxes])
        ),
        workers=workers,
    )
    wait_for(
        lambda: Mailbox.objects.filter(claim_expires_at__isnull=False).count() == 0, 30, workers
    )
    for box in boxes:
        assert Contact.objects.filter(owner_user=box.user).count() == 30
        assert ExchangeSyncIdMapping.objects.filter(mailbox=box).count() == 30
    log = workers.output()
    assert "crashed" not in log
    assert "IntegrityError" not in log
    assert "synced" in log
    # and no two cycles of one mailbox overlapped in time (each cycle is recorded with its
    # start and end, taken while its worker held the claim)
    runs = list(SyncRun.objects.filter(mailbox__in=boxes).order_by("mailbox_id", "started_at"))
    assert len(runs) >= len(boxes)
    for before, after in itertools.pairwise(runs):
        if before.mailbox_id == after.mailbox_id:
            assert after.started_at >= before.finished_at, (before, after)


def test_a_worker_killed_mid_sync_loses_nothing_and_duplicates_nothing(
    ews, workers: Workers
) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "contacts", 2500)
    # Slow every SyncFolderItems a little, so the kill lands between pages.
    ews.control.inject_fault(
        "delay", operation="SyncFolderItems", mailbox=mailbox.email_address, count=4, delay_ms=700
    )
    workers.start(1)

    sync_mailbox.delay(mailbox.pk)
    wait_for(lambda: Contact.objects.filter(owner_user=mailbox.user).count() > 0, workers=workers)
    workers.kill(0)
    partial = Contact.objects.filter(owner_user=mailbox.user).count()
    assert 0 < partial < 2500

    # the dead worker's claim expires; a new cycle picks the mailbox up
    held = Mailbox.objects.get(pk=mailbox.pk)
    assert held.claimed_by
    Mailbox.objects.filter(pk=mailbox.pk).update(claim_expires_at=timezone.now())
    sync(mailbox)

    assert Contact.objects.filter(owner_user=mailbox.user).count() == 2500
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 2500
    assert (
        len(
            set(
                Contact.objects.filter(owner_user=mailbox.user).values_list(
                    "email_address1", flat=True
                )
            )
        )
        == 2500
    )


def test_wrong_password_through_the_workers_fails_once_without_retry_storm(
    ews, workers: Workers
) -> None:
    mailbox = emulated_mailbox(ews, password="nope")
    workers.start(1)

    for _ in range(3):
        dispatch_due_mailboxes.delay()
    wait_for(lambda: Mailbox.objects.get(pk=mailbox.pk).act_status == "failure", workers=workers)
    time.sleep(1.5)

    mailbox.refresh_from_db()
    assert mailbox.alerts.count() == 1
    assert mailbox.error_count == 1
    assert mailbox.next_due_at is None
    assert workers.output().count(f"mailbox {mailbox.pk} synced") == 1
