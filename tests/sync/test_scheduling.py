"""Which mailboxes the dispatcher claims, the connection budget, claims and back-off."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmsync.choices import ActDeliveryMethod
from mailboxes.models import Mailbox
from mailboxes.sync import scheduling
from profiles.models import EmailServerProfile
from tests.sync.helpers import act_mailbox, exchange_profile

pytestmark = pytest.mark.django_db


def test_dispatcher_claims_only_due_mailboxes() -> None:
    # given a due mailbox and one mailbox for each reason not to process it
    now = timezone.now()
    profile = exchange_profile()
    inactive_profile = exchange_profile(is_active=False)
    due = act_mailbox(profile)
    act_mailbox(profile, is_active=False)
    act_mailbox(profile, approval_status=Mailbox.ApprovalStatus.PENDING)
    act_mailbox(inactive_profile)
    no_profile = act_mailbox(profile)
    Mailbox.objects.filter(pk=no_profile.pk).update(profile=None)
    act_mailbox(profile, act_delivery_method=ActDeliveryMethod.NONE)
    act_mailbox(profile, act_postpone_until=now + timedelta(minutes=5))
    act_mailbox(profile, next_due_at=now + timedelta(minutes=5))
    act_mailbox(profile, act_status=Mailbox.ChannelStatus.FAILURE)
    act_mailbox(profile, claimed_by="w", claim_expires_at=now + timedelta(minutes=5))

    # when the dispatcher runs
    claims = scheduling.claim_due_mailboxes(now=now)

    # then only the due mailbox is claimed
    assert [c.mailbox_id for c in claims] == [due.pk]
    due.refresh_from_db()
    assert due.claimed_by == claims[0].token
    assert due.claim_expires_at is not None
    assert due.claim_expires_at > now


def test_dispatcher_never_claims_a_mailbox_twice() -> None:
    profile = exchange_profile()
    act_mailbox(profile)
    assert len(scheduling.claim_due_mailboxes()) == 1
    assert scheduling.claim_due_mailboxes() == []


def test_dispatcher_respects_the_profile_connection_budget_counting_live_claims() -> None:
    # given a profile of 3 connections, one already held by a worker, and 5 due mailboxes
    now = timezone.now()
    profile = exchange_profile(max_concurrent_connections=3)
    act_mailbox(profile, claimed_by="busy", claim_expires_at=now + timedelta(minutes=1))
    for _ in range(5):
        act_mailbox(profile)
    other = exchange_profile(max_concurrent_connections=10)
    act_mailbox(other)

    claims = scheduling.claim_due_mailboxes(now=now)

    held = Mailbox.objects.filter(profile=profile, claim_expires_at__gt=now).count()
    assert held == 3
    assert (
        len([c for c in claims if Mailbox.objects.get(pk=c.mailbox_id).profile_id == profile.pk])
        == 2
    )
    assert Mailbox.objects.get(profile=other).claimed_by


def test_a_finishing_task_tops_its_profiles_queue_up_a_tenth_of_the_budget_at_a_time() -> None:
    # A backlog: 19 of the profile's 20 connections queued, 5 more mailboxes due.
    now = timezone.now()
    profile = exchange_profile(max_concurrent_connections=20)
    queued = [
        act_mailbox(profile, claimed_by="queued@beat", claim_expires_at=now + timedelta(minutes=1))
        for _ in range(19)
    ]
    for _ in range(5):
        act_mailbox(profile)

    # A task finishing with one connection free leaves it for later; beat fills it.
    assert scheduling.claim_due_mailboxes(profile_id=profile.pk, now=now, refill=True) == []
    assert len(scheduling.claim_due_mailboxes(now=now)) == 1
    # Two free (a tenth of 20): the next finishing task claims both.
    Mailbox.objects.filter(pk__in=[queued[0].pk, queued[1].pk]).update(
        claimed_by="", claim_expires_at=None, next_due_at=now + timedelta(minutes=5)
    )
    refilled = scheduling.claim_due_mailboxes(profile_id=profile.pk, now=now, refill=True)

    assert len(refilled) == 2
    assert Mailbox.objects.filter(profile=profile, claim_expires_at__gt=now).count() == 20


def test_a_finishing_task_with_nothing_due_asks_one_query() -> None:
    # An idle profile: one mailbox synced (due later), one queued, one syncing.
    now = timezone.now()
    profile = exchange_profile()
    act_mailbox(profile, next_due_at=now + timedelta(minutes=5))
    act_mailbox(profile, claimed_by="queued@beat", claim_expires_at=now + timedelta(minutes=1))
    act_mailbox(profile, claimed_by="worker", claim_expires_at=now + timedelta(minutes=1))

    with CaptureQueriesContext(connection) as idle:
        claims = scheduling.claim_due_mailboxes(profile_id=profile.pk, now=now, refill=True)

    assert claims == []
    assert len(idle.captured_queries) == 1
    # A mailbox due again is claimed by the next one.
    due = act_mailbox(profile, next_due_at=now - timedelta(seconds=1))
    claimed = scheduling.claim_due_mailboxes(profile_id=profile.pk, now=now, refill=True)
    assert [c.mailbox_id for c in claimed] == [due.pk]


def test_an_expired_claim_is_taken_over() -> None:
    now = timezone.now()
    profile = exchange_profile()
    dead = act_mailbox(
        profile, claimed_by="dead-worker", claim_expires_at=now - timedelta(seconds=1)
    )

    claims = scheduling.claim_due_mailboxes(now=now)

    assert [c.mailbox_id for c in claims] == [dead.pk]


def test_a_queued_claim_is_taken_over_by_exactly_one_task() -> None:
    profile = exchange_profile()
    act_mailbox(profile)
    (claim,) = scheduling.claim_due_mailboxes()

    first = scheduling.take_over_claim(claim.mailbox_id, claim.token)
    second = scheduling.take_over_claim(claim.mailbox_id, claim.token)

    assert first is not None
    assert second is None
    assert Mailbox.objects.get(pk=claim.mailbox_id).claimed_by == first.token


def _lapsed(seconds: float = 1) -> timedelta:
    """How long after a dispatch its claim has lapsed (the task still in the queue)."""
    return timedelta(seconds=scheduling.claim_seconds() + seconds)


def test_a_task_whose_dispatch_lapsed_in_the_queue_still_runs_the_mailbox() -> None:
    # A backlog: the task waited in the queue longer than the dispatcher's claim lasts.
    profile = exchange_profile()
    mailbox = act_mailbox(profile)
    dispatched = timezone.now()
    (claim,) = scheduling.claim_due_mailboxes(now=dispatched)

    taken = scheduling.take_over_claim(mailbox.pk, claim.token, now=dispatched + _lapsed())

    assert taken is not None
    assert Mailbox.objects.get(pk=mailbox.pk).claimed_by == taken.token


def test_the_first_of_two_queued_tasks_runs_the_mailbox_and_the_second_leaves_it() -> None:
    # The first dispatch lapsed in the queue; the next dispatch claimed the mailbox again
    # and queued a second task behind the first.
    profile = exchange_profile()
    mailbox = act_mailbox(profile)
    dispatched = timezone.now()
    (first,) = scheduling.claim_due_mailboxes(now=dispatched)
    redispatched = dispatched + _lapsed()
    (second,) = scheduling.claim_due_mailboxes(now=redispatched)
    assert second.token != first.token

    taken = scheduling.take_over_claim(mailbox.pk, first.token, now=redispatched)
    assert taken is not None
    assert scheduling.take_over_claim(mailbox.pk, second.token, now=redispatched) is None
    scheduling.release_claim(taken, next_due_at=redispatched + timedelta(minutes=5))
    # Synced and released meanwhile: the late task does not run it again.
    assert scheduling.take_over_claim(mailbox.pk, second.token, now=redispatched) is None


def test_a_task_takes_over_a_later_dispatchs_lapsed_claim() -> None:
    profile = exchange_profile()
    mailbox = act_mailbox(profile)
    dispatched = timezone.now()
    (first,) = scheduling.claim_due_mailboxes(now=dispatched)
    scheduling.claim_due_mailboxes(now=dispatched + _lapsed())

    later = dispatched + _lapsed() + _lapsed()
    assert scheduling.take_over_claim(mailbox.pk, first.token, now=later) is not None


def test_a_queued_task_never_takes_a_mailbox_a_worker_holds() -> None:
    profile = exchange_profile()
    mailbox = act_mailbox(profile)
    dispatched = timezone.now()
    (claim,) = scheduling.claim_due_mailboxes(now=dispatched)
    later = dispatched + _lapsed()
    running = scheduling.claim_mailbox(mailbox.pk, now=later)
    assert running is not None

    assert scheduling.take_over_claim(mailbox.pk, claim.token, now=later) is None
    assert Mailbox.objects.get(pk=mailbox.pk).claimed_by == running.token


def test_a_lapsed_dispatch_is_taken_only_within_the_profiles_budget() -> None:
    profile = exchange_profile(max_concurrent_connections=1)
    mailbox = act_mailbox(profile)
    dispatched = timezone.now()
    (claim,) = scheduling.claim_due_mailboxes(now=dispatched)
    later = dispatched + _lapsed()
    act_mailbox(profile, claimed_by="busy", claim_expires_at=later + timedelta(minutes=1))

    assert scheduling.take_over_claim(mailbox.pk, claim.token, now=later) is None
    # It stays due: the next dispatch queues it again once a connection is free.
    assert Mailbox.objects.filter(scheduling.due_mailboxes(later), pk=mailbox.pk).exists()


def test_direct_claim_waits_for_a_free_connection() -> None:
    now = timezone.now()
    profile = exchange_profile(max_concurrent_connections=1)
    act_mailbox(profile, claimed_by="busy", claim_expires_at=now + timedelta(minutes=1))
    mailbox = act_mailbox(profile)

    assert scheduling.claim_mailbox(mailbox.pk, now=now) is None
    assert scheduling.claim_mailbox(mailbox.pk, now=now, respect_limit=False) is not None


def test_a_lost_claim_is_noticed_and_not_released_by_its_former_holder() -> None:
    profile = exchange_profile()
    mailbox = act_mailbox(profile)
    claim = scheduling.claim_mailbox(mailbox.pk)
    assert claim is not None
    Mailbox.objects.filter(pk=mailbox.pk).update(claimed_by="someone-else")

    with pytest.raises(scheduling.ClaimLost):
        scheduling.extend_claim(claim)
    assert scheduling.release_claim(claim) is False
    assert Mailbox.objects.get(pk=mailbox.pk).claimed_by == "someone-else"


def test_idle_back_off_doubles_up_to_the_cap() -> None:
    profile = exchange_profile(min_polling_interval_minutes=5)
    delays = [scheduling.idle_delay(profile, n).total_seconds() for n in range(10)]
    assert delays[:4] == [300, 600, 1200, 2400]
    assert max(delays) == scheduling.MAX_IDLE_BACKOFF_SECONDS
    assert delays == sorted(delays)


def test_error_back_off_is_exponential_with_jitter_and_honours_the_hint() -> None:
    first = [scheduling.error_delay(1, None).total_seconds() for _ in range(50)]
    third = [scheduling.error_delay(3, None).total_seconds() for _ in range(50)]
    assert all(48 <= d <= 72 for d in first)
    assert all(192 <= d <= 288 for d in third)
    assert len(set(first)) > 1  # jitter spreads retries of many mailboxes
    assert scheduling.error_delay(5, 2.5).total_seconds() == 2.5
    assert max(scheduling.error_delay(30, None).total_seconds() for _ in range(20)) <= 3600 * 1.2


def test_a_dead_workers_mailbox_is_taken_over_within_two_minutes() -> None:
    """The claim lapses after a few missed heartbeats (default settings), and the next
    dispatch (every 30 s) takes the mailbox over: at most two minutes after the death."""
    profile = exchange_profile()
    mailbox = act_mailbox(profile)
    started = timezone.now()
    claim = scheduling.claim_mailbox(mailbox.pk, now=started)
    assert claim is not None
    # The worker's last heartbeat, then it is SIGKILLed.
    died = started + timedelta(seconds=scheduling.claim_seconds() / 3)
    scheduling.extend_claim(claim, now=died)

    assert scheduling.claim_due_mailboxes(now=died + timedelta(seconds=30)) == []
    dispatch = died + timedelta(seconds=scheduling.claim_seconds())
    dispatch += timedelta(seconds=30)  # the dispatcher may have just run
    taken = scheduling.claim_due_mailboxes(now=dispatch)

    assert [c.mailbox_id for c in taken] == [mailbox.pk]
    assert dispatch - died <= timedelta(minutes=2)


@contextmanager
def _holding_the_profile_lock(
    profile_id: int, then: Callable[[], None] | None = None
) -> Iterator[None]:
    """Another process's dispatch holding the profile's row lock: its own connection, in a
    thread, until the block ends; `then` runs in its transaction once another connection
    waits for the lock (the lock is given up with that transaction)."""
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                EmailServerProfile.objects.select_for_update().get(pk=profile_id)
                locked.set()
                if then is not None:
                    deadline = time.monotonic() + 10
                    while not _someone_waits_for_a_lock() and time.monotonic() < deadline:
                        time.sleep(0.02)
                    then()
                else:
                    done.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    try:
        yield
    finally:
        done.set()
        thread.join(10)


def _someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        # The statistics are a snapshot per transaction unless cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and lock_timeout: PostgreSQL"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_dispatch_with_no_free_connection_does_not_wait_for_another_dispatchs_lock() -> None:
    # A task finishing while the profile's budget is full (others queued it meanwhile) has
    # nothing to claim: it must not queue behind the dispatcher holding the profile.
    now = timezone.now()
    profile = exchange_profile(max_concurrent_connections=1)
    act_mailbox(profile, claimed_by="busy", claim_expires_at=now + timedelta(minutes=1))
    act_mailbox(profile)

    with _holding_the_profile_lock(profile.pk):
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            assert scheduling.claim_due_mailboxes(profile_id=profile.pk, now=now) == []
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_dispatch_whose_first_choice_was_synced_meanwhile_claims_the_next_due() -> None:
    # Read before the lock: the mailbox due first, then another worker syncs it and gives it
    # back (due in 5 minutes) while this dispatch waits for the profile's lock.
    now = timezone.now()
    profile = exchange_profile(max_concurrent_connections=2)
    act_mailbox(profile, claimed_by="busy", claim_expires_at=now + timedelta(minutes=1))
    first = act_mailbox(profile, next_due_at=now - timedelta(minutes=2))
    second = act_mailbox(profile, next_due_at=now - timedelta(minutes=1))

    def synced_meanwhile() -> None:
        Mailbox.objects.filter(pk=first.pk).update(next_due_at=now + timedelta(minutes=5))

    claims: list[scheduling.Claim] = []

    def dispatch() -> None:
        try:
            claims.extend(scheduling.claim_due_mailboxes(profile_id=profile.pk, now=now))
        finally:
            connection.close()

    dispatcher = threading.Thread(target=dispatch)
    with _holding_the_profile_lock(profile.pk, synced_meanwhile):
        dispatcher.start()
    dispatcher.join(10)

    assert [c.mailbox_id for c in claims] == [second.pk]
    assert Mailbox.objects.get(pk=first.pk).claimed_by == ""
