"""The fault matrix's helpers (`test_fault_matrix.py`): cycles run through real workers,
their pool children killed at random points, dead claims expired as 90 s without a
heartbeat would, convergence awaited; a private redis-server to restart."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
from django.db.models import Q, QuerySet
from django.utils import timezone

from activities.models import Contact
from mailboxes.models import ExchangeSyncIdMapping, Mailbox, SyncRun
from mailboxes.sync.scheduling import QUEUED_PREFIX
from mailboxes.tasks import sync_mailbox
from tests.sync.workers import Workers

KILLS = int(os.environ.get("CRMSYNC_FAULT_KILLS", "20"))


def wait_for(condition: Callable[[], bool], workers: Workers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out\n{workers.output()[-4000:]}")
        time.sleep(0.05)


def expire_claim(mailbox: Mailbox) -> None:
    """What 90 s without a heartbeat does to a dead worker's claim, without the wait."""
    Mailbox.objects.filter(pk=mailbox.pk, claimed_by__gt="").update(claim_expires_at=timezone.now())


def worker_pid(mailbox: Mailbox) -> int | None:
    """The process whose cycle holds the mailbox (a claim token names it), if any."""
    holder, until = Mailbox.objects.values_list("claimed_by", "claim_expires_at").get(pk=mailbox.pk)
    if not holder or holder.startswith(QUEUED_PREFIX) or until is None or until <= timezone.now():
        return None
    return int(holder.split("/")[0].rsplit(":", 1)[1])


def run_through_worker(mailbox: Mailbox) -> None:
    """Make the mailbox due (as if its back-off passed) and queue a cycle ("sync now")."""
    Mailbox.objects.filter(pk=mailbox.pk).update(
        next_due_at=None, act_postpone_until=None, incoming_postpone_until=None
    )
    sync_mailbox.delay(mailbox.pk)


def kill_at_random_points(
    workers: Workers,
    mailbox: Mailbox,
    *,
    seed: int,
    window: tuple[float, float],
    during: Callable[[], bool],
    settle: float = 0.6,
    before: Callable[[], None] = lambda: None,
    after_kill: Callable[[], None] = lambda: None,
) -> int:
    """SIGKILL the pool child running the mailbox's cycle at KILLS random moments (each
    `window` seconds after a cycle started) while `during()` holds; how many kills hit.

    The killed task is redelivered (acks late) to the worker's other child, which takes the
    mailbox over once the test expired the dead child's claims. They are expired `settle`
    seconds after the kill: the server finishes the request the dead child left in flight
    (a slowed one takes the fault's delay), which the claims' minutes always allow."""
    rng = random.Random(seed)
    hits = 0
    for _ in range(3 * KILLS):
        if hits == KILLS or not during():
            break
        before()
        run_through_worker(mailbox)
        deadline = time.monotonic() + 10
        while worker_pid(mailbox) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(*window))
        pid = worker_pid(mailbox)
        if pid is not None and workers.kill_child(pid):
            hits += 1
            time.sleep(settle)
            expire_claim(mailbox)
            after_kill()
    return hits


def converge(mailbox: Mailbox, workers: Workers, timeout: float = 120) -> SyncRun:
    """Cycles through the worker until one succeeds and gives the mailbox back."""
    deadline = time.monotonic() + timeout
    given_back = Mailbox.objects.filter(pk=mailbox.pk, claimed_by="")

    def free() -> bool:
        # Given back, or held by a dead worker's expired claim (the last kill's, once its
        # redelivered task found it still live and skipped it): the next cycle takes it.
        return Mailbox.objects.filter(
            Q(claimed_by="") | Q(claim_expires_at__lte=timezone.now()), pk=mailbox.pk
        ).exists()

    while True:
        wait_for(free, workers, deadline - time.monotonic())
        since = timezone.now()
        run_through_worker(mailbox)
        runs = SyncRun.objects.filter(mailbox=mailbox, started_at__gte=since)

        def ended(runs: QuerySet[SyncRun] = runs) -> bool:
            return runs.exists() and given_back.exists()

        wait_for(ended, workers, deadline - time.monotonic())
        run = runs.latest("pk")
        if run.outcome == "success":
            mailbox.refresh_from_db()
            return run


def assert_contacts_exactly_once(mailbox: Mailbox, expected: int) -> None:
    """As many contacts as Exchange items, each linked to exactly one item."""
    contacts = Contact.objects.filter(owner_user=mailbox.user).count()
    mappings = ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, object_type="contact")
    items = set(mappings.values_list("exchange_item_id", flat=True))
    records = set(mappings.values_list("crm_object_id", flat=True))
    assert contacts == expected, f"{contacts} contacts, expected {expected}"
    assert (mappings.count(), len(items), len(records)) == (expected, expected, expected)
    assert (
        set(Contact.objects.filter(owner_user=mailbox.user).values_list("pk", flat=True)) == records
    )


def assert_no_task_died(workers: Workers) -> None:
    output = workers.output()
    assert "raised unexpected" not in output, output[-4000:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A private redis-server on a free port, without persistence (as CI and the machine's
    run it): a restart loses what was queued."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def queued(self, queue: str) -> int:
        return int(redis.Redis.from_url(self.url).llen(queue))
