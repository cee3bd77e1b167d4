"""The fault matrix (issue 15): real Celery worker processes against the emulator's fault
injection, killed PostgreSQL connections, a restarted Redis and a restarted emulator. Every
case ends converged: each item exactly once on both sides, nothing missing, nothing sent
twice, and the right status, kind and alert on the way.

The SIGKILL cases kill the pool child of a prefork worker, which the worker replaces at once
(a dead worker without the cost of starting one), at `CRMSYNC_FAULT_KILLS` random points
(20 by default) of an initial sync, of an outgoing batch of email over EWS and of a push of
CRM records to Exchange. A killed task is redelivered (acks late); the dead child's claim
is expired by the test, as 90 s without a heartbeat does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from activities.models import Contact, Email
from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from ews_emulator.testing import EmulatorProcess, start_emulator
from mailboxes.connectors import ErrorKind
from mailboxes.models import Alert, ExchangeSyncIdMapping, FolderSyncState, Mailbox, SyncRun
from mailboxes.sync.scheduling import QUEUED_PREFIX
from mailboxes.tasks import dispatch_due_mailboxes, sync_mailbox
from tests.factories import make_contact, make_outgoing_email
from tests.mail.messages import build
from tests.sync.faults import (
    KILLS,
    RedisServer,
    assert_contacts_exactly_once,
    assert_no_task_died,
    converge,
    kill_at_random_points,
    run_through_worker,
    wait_for,
    worker_pid,
)
from tests.sync.helpers import act_mailbox, emulated_mailbox, exchange_profile, new_address
from tests.sync.workers import Workers, celery_workers
from tests.waiting import settled
from tests.web.conftest import logged_in, settings_post

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_sigkill_at_random_points_of_an_initial_sync(
    ews: EmulatorProcess, workers: Workers
) -> None:
    mailbox = emulated_mailbox(ews)
    address = mailbox.email_address
    ews.control.seed(address, "contacts", 500)
    ews.control.seed(address, "calendar", 100)
    ews.control.seed(address, "tasks", 100)
    # Each page slower (its changes, then its items' fields): most kills land before the
    # cycle's page commits, so the sync outlasts them on a quiet machine too, where a cycle
    # that commits a page or two before each kill finished after 4 of 20.
    for operation, delay_ms in (("SyncFolderItems", 400), ("GetItem", 1000)):
        ews.control.inject_fault(
            "delay", operation=operation, mailbox=address, count=100_000, delay_ms=delay_ms
        )
    workers.start(1, pool="prefork", concurrency=2)

    folders = FolderSyncState.objects.filter(mailbox=mailbox, is_initial_sync_complete=True)
    hits = kill_at_random_points(
        workers,
        mailbox,
        seed=15,
        window=(0.05, 1.8),
        settle=0.45,
        during=lambda: folders.count() < 3,
    )
    ews.control.clear_faults()
    converge(mailbox, workers)

    assert hits >= KILLS // 2, f"only {hits} of {KILLS} kills hit a running cycle"
    assert_contacts_exactly_once(mailbox, 500)
    for object_type, count in (("appointment", 100), ("task", 100)):
        mappings = ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, object_type=object_type)
        assert mappings.count() == count
        assert len(set(mappings.values_list("exchange_item_id", flat=True))) == count
    assert mailbox.act_status == Mailbox.ChannelStatus.SUCCESS


def test_sigkill_at_random_points_of_an_outgoing_ews_batch_sends_each_email_once(
    ews: EmulatorProcess, workers: Workers
) -> None:
    profile = exchange_profile(
        ews.ews_url,
        outgoing_server_location=ews.ews_url,
        outgoing_authentication_protocol="basic",
    )
    sender = emulated_mailbox(
        ews,
        profile=profile,
        outgoing_delivery_method=OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
        act_delivery_method=ActDeliveryMethod.NONE,
    )
    recipient = new_address("recipient")
    ews.control.create_mailbox(recipient, "secret")
    batch = 30
    emails = [
        make_outgoing_email(sender, to=recipient, subject=f"Offer {n}", body_text="Our offer.")
        for n in range(batch)
    ]
    # Each send takes a moment, and the server completes one whose client died meanwhile.
    ews.control.inject_fault(
        "delay", operation="CreateItem", mailbox=sender.email_address, count=10_000, delay_ms=300
    )
    workers.start(1, pool="prefork", concurrency=2)

    def expire_sends() -> None:
        """What CRMSYNC_SEND_CLAIM_SECONDS does to the emails the dead child held."""
        Email.objects.filter(status=Email.Status.SENDING).update(
            send_claimed_at=timezone.now() - timedelta(hours=1)
        )

    unsent = Email.objects.filter(pk__in=[e.pk for e in emails]).exclude(status=Email.Status.SENT)
    hits = kill_at_random_points(
        workers, sender, seed=16, window=(0.05, 1.0), during=unsent.exists, after_kill=expire_sends
    )
    ews.control.clear_faults()
    while unsent.exists():
        converge(sender, workers)

    assert hits >= KILLS // 2, f"only {hits} of {KILLS} kills hit a running cycle"
    statuses = list(Email.objects.filter(pk__in=[e.pk for e in emails]).values_list("status"))
    assert statuses == [(Email.Status.SENT,)] * batch
    settled(ews.control)
    received = sorted(i["subject"] for i in ews.control.items(recipient, "inbox"))
    kept = sorted(i["subject"] for i in ews.control.items(sender.email_address, "sentitems"))
    expected = sorted(
        f"{e.subject} {e.tracking_token}"
        for e in Email.objects.filter(pk__in=[m.pk for m in emails])
    )
    assert received == expected, "each email delivered exactly once"
    assert kept == expected, "each email kept once in Sent Items"


def test_sigkill_at_random_points_of_a_crm_push_writes_each_record_once(
    ews: EmulatorProcess, workers: Workers
) -> None:
    """The CRM keeps creating records (a chunk before each cycle), and each cycle's push is
    killed at a random point: a chunk the server wrote for a dead worker is found again by
    its records' ids, not written twice."""
    mailbox = emulated_mailbox(ews)
    address = mailbox.email_address
    chunk = 20
    # Each write takes longer than the kills' window, so that every kill lands in a push,
    # and the server completes one whose client died (before `settle` expires its claim).
    ews.control.inject_fault(
        "delay", operation="CreateItem", mailbox=address, count=10_000, delay_ms=1200
    )
    workers.start(1, pool="prefork", concurrency=2)
    made = 0

    def more_records() -> None:
        """New records before each cycle: a cycle that is not killed pushes them, so the
        next one has records of its own to push (and to be killed in)."""
        nonlocal made
        for _ in range(chunk):
            make_contact(mailbox.user)
        made += chunk

    hits = kill_at_random_points(
        workers,
        mailbox,
        seed=17,
        window=(0.05, 1.0),
        settle=1.5,
        during=lambda: True,
        before=more_records,
    )
    ews.control.clear_faults()
    converge(mailbox, workers)

    records = made
    assert hits == KILLS
    items = ews.control.items(address, "contacts")
    assert len(items) == records, f"{len(items)} contacts in Exchange, expected {records}"
    assert_contacts_exactly_once(mailbox, records)


# (fault, the kind it must be recorded as, permanent)
FAULTS = [
    ("server_busy", ErrorKind.THROTTLED, False),
    ("http_429", ErrorKind.THROTTLED, False),
    ("http_500", ErrorKind.SERVER, False),
    ("http_503", ErrorKind.SERVER, False),
    ("drop", ErrorKind.NETWORK, False),
    ("delay", ErrorKind.NETWORK, False),
    ("invalid_sync_state", None, False),
    ("garbage", ErrorKind.PROTOCOL, False),
    ("http_403", ErrorKind.AUTHENTICATION, True),
    ("auth_failure", ErrorKind.AUTHENTICATION, True),
]


def test_every_server_fault_through_a_worker_is_classified_and_converges(
    ews: EmulatorProcess, workers: Workers
) -> None:
    profile = exchange_profile(ews.ews_url, connection_timeout_ms=1500)
    mailbox = emulated_mailbox(
        ews,
        profile=profile,
        incoming_delivery_method=DeliveryMethod.SERVER_SIDE_SYNC,
        tracking_option=Mailbox.TrackingOption.ALL,
    )
    address = mailbox.email_address
    workers.start(1)
    contacts = messages = 0

    def cycle_through_worker() -> SyncRun:
        """Make the mailbox due (as if its back-off passed) and let the worker run it."""
        runs = SyncRun.objects.filter(mailbox=mailbox).count()
        Mailbox.objects.filter(pk=mailbox.pk).update(
            next_due_at=None, act_postpone_until=None, incoming_postpone_until=None
        )
        sync_mailbox.delay(mailbox.pk)
        wait_for(lambda: SyncRun.objects.filter(mailbox=mailbox).count() > runs, workers)
        wait_for(lambda: not Mailbox.objects.get(pk=mailbox.pk).claimed_by, workers)
        return SyncRun.objects.filter(mailbox=mailbox).order_by("-pk").first()  # type: ignore[return-value]

    for fault, kind, permanent in FAULTS:
        # New work on the Exchange side, then the fault on the next call.
        ews.control.seed(address, "contacts", 10)
        ews.control.deliver(address, build(to=address, subject=f"during {fault}"))
        contacts, messages = contacts + 10, messages + 1
        ews.control.inject_fault(
            fault, mailbox=address, operation="SyncFolderItems", back_off_ms=1000, delay_ms=3000
        )
        failed = cycle_through_worker()
        ews.control.clear_faults()
        mailbox.refresh_from_db()
        if kind is None:
            # The stored state is refused: the folder is pulled again, and nothing doubles.
            assert failed.outcome == "success", failed.error_text
        else:
            assert failed.outcome == ("permanent" if permanent else "transient"), fault
            assert mailbox.last_error_kind == kind, (fault, mailbox.last_error_code)
        if permanent:
            assert mailbox.act_status == Mailbox.ChannelStatus.FAILURE
            assert Alert.objects.filter(
                mailbox=mailbox, code__in=["authentication_failed", "ErrorAccessDenied"]
            ).exists()
            # The password really changed in Exchange; the user saves the new one.
            ews.control.set_password(address, f"new-{fault}")
            mailbox.password = f"new-{fault}"
            mailbox.save()
        recovered = cycle_through_worker()
        assert recovered.outcome == "success", (fault, recovered.error_text)

    assert_contacts_exactly_once(mailbox, contacts)
    subjects = list(Email.objects.filter(mailbox=mailbox).values_list("subject", flat=True))
    assert sorted(subjects) == sorted(f"during {f}" for f, _k, _p in FAULTS)
    assert len(subjects) == messages
    assert "crashed" not in workers.output()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend")
def test_database_connections_killed_mid_cycle(ews: EmulatorProcess, workers: Workers) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "contacts", 800)
    ews.control.inject_fault(
        "delay", operation="SyncFolderItems", mailbox=mailbox.email_address, count=20, delay_ms=300
    )
    # A short claim: the cycle's heartbeats and the keeper's renewals write often, so the
    # killed connections are met both inside and outside transactions.
    workers.start(1, extra_env={"CRMSYNC_CLAIM_SECONDS": "30"})
    sync_mailbox.delay(mailbox.pk)
    wait_for(lambda: Contact.objects.filter(owner_user=mailbox.user).exists(), workers)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (killed,) = cursor.fetchone()
    assert killed >= 1

    # The worker's cycle records its failure and gives the mailbox back by itself, on a new
    # connection: no claim left to expire, no dead task.
    wait_for(lambda: SyncRun.objects.filter(mailbox=mailbox).exists(), workers)
    wait_for(lambda: Mailbox.objects.filter(pk=mailbox.pk, claimed_by="").exists(), workers)
    failed = SyncRun.objects.get(mailbox=mailbox)
    assert failed.outcome == "transient", failed.error_text
    ews.control.clear_faults()
    converge(mailbox, workers)

    assert_contacts_exactly_once(mailbox, 800)
    assert mailbox.act_status == Mailbox.ChannelStatus.SUCCESS
    assert_no_task_died(workers)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_restarted_while_tasks_are_queued(
    ews: EmulatorProcess, private_redis: RedisServer, tmp_path: Path, transactional_db: None
) -> None:
    mailboxes = [emulated_mailbox(ews) for _ in range(4)]
    for mailbox in mailboxes:
        ews.control.seed(mailbox.email_address, "contacts", 40)
    busy = mailboxes[0]
    ews.control.inject_fault(
        "delay", operation="SyncFolderItems", mailbox=busy.email_address, count=3, delay_ms=2000
    )
    with celery_workers(tmp_path, broker_url=private_redis.url) as workers:
        workers.start(1)
        sync_mailbox.delay(busy.pk)
        wait_for(lambda: worker_pid(busy) is not None, workers)
        # The dispatcher queues the others behind the busy one (as beat does).
        assert dispatch_due_mailboxes() == 3
        assert private_redis.queued(workers.queue) == 3

        private_redis.stop()
        private_redis.start()
        assert private_redis.queued(workers.queue) == 0  # the queued tasks are gone

        # The worker reconnects and ends its cycle; the lost tasks' claims lapse (what the
        # claim's 90 s do) and the next dispatch queues their mailboxes again.
        wait_for(lambda: SyncRun.objects.filter(mailbox=busy).exists(), workers)
        Mailbox.objects.filter(claimed_by__startswith=QUEUED_PREFIX).update(
            claim_expires_at=timezone.now()
        )
        assert dispatch_due_mailboxes() == 3
        wait_for(lambda: SyncRun.objects.filter(mailbox__in=mailboxes).count() >= 4, workers)
        wait_for(lambda: not Mailbox.objects.filter(claimed_by__gt="").exists(), workers)

        for mailbox in mailboxes:
            assert SyncRun.objects.filter(mailbox=mailbox).get().outcome == "success"
            assert_contacts_exactly_once(mailbox, 40)
        assert workers.processes[0].poll() is None, "the worker survived the restart"
        assert_no_task_died(workers)


def test_emulator_stopped_and_restarted_mid_sync(tmp_path: Path, workers: Workers) -> None:
    address = new_address()
    emulator = start_emulator(tmp_path / "ews.db", users=[(address, "secret")])
    try:
        port = int(emulator.ews_url.split(":")[2].split("/")[0])
        profile = exchange_profile(emulator.ews_url, connection_timeout_ms=3000)
        mailbox = act_mailbox(profile, email=address)
        emulator.control.seed(address, "contacts", 800)
        emulator.control.inject_fault("delay", mailbox=address, count=10_000, delay_ms=200)
        workers.start(1)
        sync_mailbox.delay(mailbox.pk)
        wait_for(lambda: Contact.objects.filter(owner_user=mailbox.user).exists(), workers)

        emulator.stop()
        wait_for(lambda: SyncRun.objects.filter(mailbox=mailbox).exists(), workers)
        failed = SyncRun.objects.get(mailbox=mailbox)
        mailbox.refresh_from_db()
        # A server that went away: transient, retried with back-off, nobody alerted yet.
        assert failed.outcome == "transient", failed.error_text
        assert mailbox.last_error_kind == ErrorKind.NETWORK, mailbox.last_error_code
        assert mailbox.act_status != Mailbox.ChannelStatus.FAILURE
        assert not Alert.objects.filter(mailbox=mailbox).exists()

        emulator = start_emulator(tmp_path / "ews.db", users=[], port=port)
        converge(mailbox, workers)

        assert_contacts_exactly_once(mailbox, 800)
        assert mailbox.act_status == Mailbox.ChannelStatus.SUCCESS
        assert (mailbox.transient_failure_count, mailbox.last_error_kind) == (0, "")
        assert_no_task_died(workers)
    finally:
        emulator.stop()


def test_password_changed_in_exchange_then_fixed_on_the_self_service_page(
    ews: EmulatorProcess, workers: Workers
) -> None:
    mailbox = emulated_mailbox(
        ews,
        incoming_delivery_method=DeliveryMethod.SERVER_SIDE_SYNC,
        tracking_option=Mailbox.TrackingOption.ALL,
    )
    address = mailbox.email_address
    ews.control.seed(address, "contacts", 20)
    workers.start(1)
    converge(mailbox, workers)

    ews.control.set_password(address, "changed-in-exchange")
    ews.control.seed(address, "contacts", 5)
    ews.control.deliver(address, build(to=address, subject="while the password was wrong"))
    runs = SyncRun.objects.filter(mailbox=mailbox).count()
    run_through_worker(mailbox)
    wait_for(lambda: SyncRun.objects.filter(mailbox=mailbox).count() > runs, workers)
    wait_for(lambda: Mailbox.objects.filter(pk=mailbox.pk, claimed_by="").exists(), workers)

    mailbox.refresh_from_db()
    failed = SyncRun.objects.filter(mailbox=mailbox).latest("pk")
    assert failed.outcome == "permanent", failed.error_text
    assert mailbox.last_error_kind == ErrorKind.AUTHENTICATION
    assert mailbox.act_status == Mailbox.ChannelStatus.FAILURE
    assert mailbox.incoming_status == Mailbox.ChannelStatus.FAILURE
    alert = Alert.objects.get(mailbox=mailbox, staff_only=False)
    assert "password" in alert.message.lower(), alert.message
    # Not retried on its own: the account is not locked out by retries.
    assert dispatch_due_mailboxes() == 0

    assert mailbox.user is not None
    response = logged_in(mailbox.user).post(
        f"/mailboxes/{mailbox.pk}/", settings_post(mailbox, password="changed-in-exchange")
    )
    assert response.status_code == 302, response.content[:2000]
    assert dispatch_due_mailboxes() == 1
    converge(mailbox, workers)

    assert_contacts_exactly_once(mailbox, 25)
    assert list(Email.objects.filter(mailbox=mailbox).values_list("subject", flat=True)) == [
        "while the password was wrong"
    ]
    assert mailbox.act_status == Mailbox.ChannelStatus.SUCCESS
    assert mailbox.incoming_status == Mailbox.ChannelStatus.SUCCESS
    assert mailbox.last_error_kind == ""
    assert_no_task_died(workers)
