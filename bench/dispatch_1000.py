"""1,000 idle mailboxes: one dispatcher pass and all their cycles, with two worker processes.

python bench/dispatch_1000.py [--quick] [--protocol ews|graph]     (--quick: 200 mailboxes)

`--protocol graph`: Microsoft 365 mailboxes syncing appointments, contacts and tasks on the
emulator's Graph, with a tenth of the mailboxes' first delta requests answered `429` with
`Retry-After: 1` (injected), and beat running (dispatch every 5 s) so that the postponed
mailboxes are picked up again. The emulator's concurrency limit is lifted for the run so that
its counters show the true peak of concurrent requests per mailbox the workers made (Graph
allows 4; crmsync's request slots in Redis must keep to it), and the requests per mailbox
(one `delta` per folder for an idle cycle). Run it with a Redis broker
(CELERY_BROKER_URL=redis://...): without one the slots are counted per process only.

CPU: the two workers' CPU seconds over the run (`worker_cpu_seconds`), per cycle they ran
(`worker_cpu_ms_per_cycle`: a cycle is a sync run recorded, a mailbox postponed by a 429
counts twice), and the mail server's (`server_cpu_seconds`: the emulator shares the cores).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import _syncbench as sb
from django.conf import settings
from django.utils import timezone
from tqdm import tqdm

from mailboxes.models import Mailbox, SyncRun
from mailboxes.sync.cycle import run_cycle
from mailboxes.tasks import dispatch_due_mailboxes

FOLDERS = 3  # calendar, contacts, tasks


def make_idle(boxes: list[Mailbox]) -> list[int]:
    """One initial (empty) cycle each; none due until the run starts (`main`), so that beat
    and the workers, started before, cycle none of them before the clock runs."""
    for box in tqdm(boxes, desc="initial cycles"):
        result = run_cycle(box.pk, respect_limit=False)
        assert result.error is None, result.error
    ids = [b.pk for b in boxes]
    later = timezone.now() + timedelta(days=1)
    Mailbox.objects.filter(pk__in=ids).update(next_due_at=later, last_success_at=None)
    return ids


@contextlib.contextmanager
def ews_mailboxes(count: int) -> Iterator[tuple[list[int], dict[str, Any], int]]:
    ews = sb.emulator()
    try:
        prof = sb.profile(ews, max_concurrent_connections=300)
        boxes = [sb.mailbox(ews, prof) for _ in tqdm(range(count), desc="mailboxes")]
        yield make_idle(boxes), {}, ews.pid
    finally:
        ews.stop()


@contextlib.contextmanager
def graph_mailboxes(count: int) -> Iterator[tuple[list[int], dict[str, Any], int]]:
    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        raise SystemExit("set CELERY_BROKER_URL to a Redis database: redis://127.0.0.1:6379/N")
    with sb.graph_tenant("--graph-concurrency", "64") as tenant:
        prof = sb.graph_profile(tenant)
        boxes = [sb.graph_mailbox(tenant, prof) for _ in tqdm(range(count), desc="mailboxes")]
        ids = make_idle(boxes)
        tenant.control.graph_counters(reset=True)
        injected = count // 10
        tenant.control.inject_graph_fault("graph_429", path="delta", count=injected, retry_after=1)
        os.environ["CRMSYNC_DISPATCH_SECONDS"] = "5"
        beat = sb.start_beat()
        figures: dict[str, Any] = {"injected_429": injected}
        try:
            yield ids, figures, tenant.pid
        finally:
            sb.stop_processes([beat])
        counters = tenant.control.graph_counters()
        addresses = set(Mailbox.objects.filter(pk__in=ids).values_list("email_address", flat=True))
        requests = [int(counters["requests"].get(a, 0)) for a in addresses]
        peaks = [int(counters["concurrency_high_water"].get(a, 0)) for a in addresses]
        figures.update(
            {
                "graph_requests": sum(requests),
                "graph_requests_per_mailbox_max": max(requests),
                "idle_requests_per_folder": round(
                    (sum(requests) - injected) / len(addresses) / FOLDERS, 2
                ),
                "max_concurrent_requests_per_mailbox": max(peaks),
                "target_max_concurrent": 4,
                "emulator_throttled": sum(int(v) for v in counters["throttled"].values()),
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 mailboxes")
    parser.add_argument("--protocol", choices=("ews", "graph"), default="ews")
    args = parser.parse_args()
    count = 200 if args.quick else 1000
    sb.migrate()
    setup = graph_mailboxes if args.protocol == "graph" else ews_mailboxes
    workers: list[subprocess.Popen[bytes]] = []
    with setup(count) as (ids, figures, server_pid):
        try:
            workers = sb.start_workers(2)
            load_before = sb.load_average()
            worker_pids = [w.pid for w in workers]
            cpu_before = sb.cpu_seconds(*worker_pids), sb.cpu_seconds(server_pid)
            runs_before = SyncRun.objects.filter(mailbox_id__in=ids).count()
            started = time.perf_counter()
            Mailbox.objects.filter(pk__in=ids).update(next_due_at=None)
            dispatch_due_mailboxes.delay()
            bar = tqdm(total=count, desc="idle cycles done")
            while True:
                done = Mailbox.objects.filter(pk__in=ids, last_success_at__isnull=False).count()
                bar.n = done
                bar.refresh()
                if done == count:
                    break
                if time.perf_counter() - started > 600:
                    raise SystemExit("timed out")
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
            worker_cpu = sb.cpu_seconds(*worker_pids) - cpu_before[0]
            server_cpu = sb.cpu_seconds(server_pid) - cpu_before[1]
            bar.close()
        finally:
            sb.stop_processes(workers)
    boxes = Mailbox.objects.filter(pk__in=ids)
    failed = boxes.filter(act_status=Mailbox.ChannelStatus.FAILURE).count()
    cycles = SyncRun.objects.filter(mailbox_id__in=ids).count() - runs_before
    sb.report(
        {
            "benchmark": "dispatch_1000",
            "protocol": args.protocol,
            "quick": args.quick,
            "mailboxes": count,
            "workers": 2,
            "seconds": round(elapsed, 2),
            "target_seconds": 60,
            "cycles_per_second": round(count / elapsed, 1),
            "cycles_run": cycles,
            "worker_cpu_seconds": round(worker_cpu, 1),
            "worker_cpu_ms_per_cycle": round(worker_cpu / max(cycles, 1) * 1000, 1),
            "server_cpu_seconds": round(server_cpu, 1),
            "mailboxes_with_errors": boxes.exclude(last_error_code="").count(),
            "mailboxes_failed": failed,
            **figures,
            "load_average_before": load_before,
            "load_average_after": sb.load_average(),
        }
    )


if __name__ == "__main__":
    main()
