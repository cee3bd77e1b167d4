"""At most 4 concurrent Graph requests per mailbox, counted in Redis across processes; a
request that finds no free slot within the wait postpones the mailbox instead of blocking."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings

from mailboxes.connectors import ErrorKind, TransientSyncError
from mailboxes.connectors.graph import limits
from mailboxes.connectors.graph.client import BatchRequest, GraphClient
from mailboxes.connectors.settings import graph_settings
from tests.conftest import M365


@pytest.fixture
def redis_slots() -> Iterator[limits.RedisSlots]:
    url = limits.redis_url()
    if not url:
        pytest.skip("CELERY_BROKER_URL / CRMSYNC_REDIS_URL names no Redis")
    keeper = limits.RedisSlots(url, limit=4)
    yield keeper
    keeper.client.close()


def test_redis_slots_are_shared_by_separate_clients(redis_slots: limits.RedisSlots) -> None:
    other = limits.RedisSlots(limits.redis_url(), limit=4)  # another process's connection
    mailbox = f"{uuid.uuid4().hex}@example.com"
    held = [redis_slots.try_take(mailbox, 30) for _ in range(3)]
    held.append(other.try_take(mailbox, 30))
    assert all(held)
    assert other.try_take(mailbox, 30) is None  # the fifth, from either side
    assert redis_slots.try_take(mailbox, 30) is None
    assert redis_slots.taken(mailbox) == 4
    redis_slots.give_back(mailbox, str(held[0]))
    assert other.try_take(mailbox, 30) is not None
    other.client.close()


def test_an_expired_lease_frees_its_slot(redis_slots: limits.RedisSlots) -> None:
    mailbox = f"{uuid.uuid4().hex}@example.com"
    for _ in range(4):
        assert redis_slots.try_take(mailbox, 0.001)  # holders that died: leases end at once
    threading.Event().wait(0.01)
    assert redis_slots.try_take(mailbox, 30) is not None


def test_no_free_slot_postpones_instead_of_blocking() -> None:
    keeper = limits.LocalSlots(limit=1)
    with limits.mailbox_slot("a@example.com", lease_seconds=30, wait_seconds=0, keeper=keeper):
        with (
            pytest.raises(TransientSyncError) as busy,
            limits.mailbox_slot(
                "A@example.com", lease_seconds=30, wait_seconds=0.05, keeper=keeper
            ),
        ):
            pass
        # Another mailbox is not held up.
        with limits.mailbox_slot("b@example.com", lease_seconds=30, keeper=keeper):
            pass
    assert busy.value.kind is ErrorKind.THROTTLED and busy.value.retry_after == 1.0
    assert keeper.taken("a@example.com") == 0


@pytest.mark.e2e
def test_twelve_threads_never_exceed_four_requests_on_the_mailbox(m365: M365) -> None:
    """Slow answers (a delay fault) make the requests overlap; the emulator counts the most
    requests in flight at once on the mailbox and answers 429 beyond 4."""
    profile = m365.profile()
    mailbox = m365.mailbox(profile)
    email = mailbox.email_address
    m365.tenant.control.inject_graph_fault("graph_delay", mailbox=email, count=24, delay_ms=100)
    settings_ = graph_settings(profile, mailbox)

    def call(_: int) -> str:
        # A client each, as separate workers would hold; the slots are shared.
        return str(GraphClient(settings_).get("mailFolders/inbox")["displayName"])

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(call, range(24)))
    assert answers == ["Inbox"] * 24
    counters = m365.tenant.control.graph_counters()
    high_water = counters["concurrency_high_water"][email]
    assert 2 <= high_water <= settings.CRMSYNC_GRAPH_MAX_CONCURRENT_REQUESTS  # they overlapped
    assert counters["throttled"].get(email, 0) == 0


def test_a_batch_takes_up_to_four_slots_as_many_as_are_free() -> None:
    keeper = limits.LocalSlots(limit=4)
    with (
        limits.mailbox_slot("a@example.com", lease_seconds=30, keeper=keeper) as one,
        limits.mailbox_slot("a@example.com", lease_seconds=30, keeper=keeper, most=4) as n,
    ):
        assert (one.count, n.count) == (1, 3)
        assert keeper.taken("a@example.com") == 4
    assert keeper.taken("a@example.com") == 0


@pytest.mark.e2e
def test_batches_beside_single_requests_never_exceed_four_on_the_mailbox(m365: M365) -> None:
    """Graph runs four requests of a batch at once, each counting against the mailbox: a
    batch holds as many slots, and carries fewer requests when fewer are free."""
    profile = m365.profile()
    mailbox = m365.mailbox(profile)
    email = mailbox.email_address
    m365.tenant.control.inject_graph_fault("graph_delay", mailbox=email, count=60, delay_ms=50)
    settings_ = graph_settings(profile, mailbox)
    requests_ = [BatchRequest(str(n), "GET", "mailFolders/inbox") for n in range(10)]

    def call(n: int) -> list[int]:
        client = GraphClient(settings_)
        if n % 2:
            return [a.status for a in client.batch(requests_)]
        return [200 if client.get("mailFolders/inbox")["displayName"] == "Inbox" else 0]

    with ThreadPoolExecutor(4) as pool:
        statuses = [s for answer in pool.map(call, range(8)) for s in answer]
    assert statuses == [200] * (4 * 10 + 4)
    counters = m365.tenant.control.graph_counters()
    assert 2 <= counters["concurrency_high_water"][email] <= 4
    assert counters["throttled"].get(email, 0) == 0
    m365.tenant.control.clear_faults()


def test_the_window_counts_each_request_of_a_batch_and_leaves_the_marks_three_quarters() -> None:
    keeper = limits.LocalSlots(limit=4)
    with limits.mailbox_slot("a@example.com", lease_seconds=30, keeper=keeper, most=4) as held:
        held.cost = 20  # a $batch of twenty
    with limits.mailbox_slot("A@example.com", lease_seconds=30, keeper=keeper):
        pass
    used, frees_in = keeper.counted("a@example.com")
    assert used == 21
    assert 600 < frees_in <= 660  # the oldest minute counted leaves in ten minutes or so
    room = limits.room("a@example.com", share=limits.MARKS_SHARE, keeper=keeper)
    assert room.requests == 7_500 - 21
    assert keeper.counted("b@example.com") == (0, 0.0)


def test_a_request_past_the_mailboxs_10_minute_budget_is_not_sent(
    m365: M365, settings: Any
) -> None:
    """Whatever runs the mailbox's cycles, its requests in any 10 minutes stay within
    Microsoft's limit per application and mailbox: past it a request is not sent, and the
    mailbox is postponed until the oldest counted minute leaves the window."""
    settings.CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES = 100
    profile = m365.profile()
    mailbox = m365.mailbox(profile)
    email = mailbox.email_address
    client = GraphClient(graph_settings(profile, mailbox))
    control = m365.tenant.control
    control.graph_counters(reset=True)
    answers = client.batch([BatchRequest(str(n), "GET", "mailFolders/inbox") for n in range(10)])
    assert [a.status for a in answers] == [200] * 10
    keeper = limits.slots()
    assert keeper.counted(email)[0] == 10  # each request of the batch, as Graph counts them
    # other workers' requests of the last minutes bring the window to the last batch's room
    keeper.give_back(email, "other-workers", 0, cost=70)
    assert client.get("mailFolders/inbox")["displayName"] == "Inbox"  # 81 counted
    with pytest.raises(TransientSyncError) as spent:
        client.get("mailFolders/inbox")
    assert spent.value.kind is ErrorKind.THROTTLED
    assert spent.value.code == "mailbox_request_budget"
    assert spent.value.retry_after is not None and 0 < spent.value.retry_after <= 660
    assert control.graph_counters()["requests"].get(email, 0) == 11  # the last one not sent


CHILD = """
import pickle, sys
from concurrent.futures import ThreadPoolExecutor

import django

django.setup()
from mailboxes.connectors.graph import tokens
from mailboxes.connectors.graph.client import GraphClient, graph_scope

config = pickle.loads(bytes.fromhex(sys.stdin.readline()))
tokens.access_token(config.app, graph_scope(config.endpoint))
print("ready", flush=True)
sys.stdin.readline()  # both processes start their requests together


def call(_):
    return GraphClient(config).get("mailFolders/inbox")["displayName"]


with ThreadPoolExecutor(4) as pool:
    print(sum(answer == "Inbox" for answer in pool.map(call, range(12))))
"""


@pytest.mark.e2e
def test_two_worker_processes_never_exceed_four_requests_on_the_mailbox(m365: M365) -> None:
    """The slots are the installation's, not a process's: two processes of four threads
    each, their answers slowed so that they overlap, never have more than four requests of
    the mailbox in flight at the emulator (which answers 429 beyond)."""
    if not limits.redis_url():
        pytest.skip("CELERY_BROKER_URL / CRMSYNC_REDIS_URL names no Redis")
    profile = m365.profile()
    mailbox = m365.mailbox(profile)
    email = mailbox.email_address
    control = m365.tenant.control
    control.inject_graph_fault("graph_delay", mailbox=email, count=24, delay_ms=300)
    config = pickle.dumps(graph_settings(profile, mailbox)).hex()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crmsync.settings",
        "CRMSYNC_MICROSOFT_CA_BUNDLE": m365.tenant.ca_file,
        "CRMSYNC_REDIS_URL": limits.redis_url(),
        "CRMSYNC_GRAPH_SLOT_WAIT_MS": "30000",  # this test is about concurrency, not waits
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=settings.BASE_DIR,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(config + "\n")
        worker.stdin.flush()
    assert [worker.stdout.readline().strip() for worker in workers if worker.stdout] == [
        "ready",
        "ready",
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert [out.strip() for out, _ in outputs] == ["12", "12"], [err for _, err in outputs]
    counters = control.graph_counters()
    assert counters["requests"][email] == 24
    assert 2 <= counters["concurrency_high_water"][email] <= 4
    assert counters["throttled"].get(email, 0) == 0
