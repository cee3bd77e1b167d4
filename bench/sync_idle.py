"""A cycle of a mailbox with no changes: EWS requests per synced folder and worker time.

python bench/sync_idle.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time

import _syncbench as sb
import requests
from tqdm import tqdm

from mailboxes.models import Mailbox
from mailboxes.sync.cycle import run_cycle

QUICK = "--quick" in sys.argv
CYCLES = 10 if QUICK else 50
FOLDERS = 3  # calendar, contacts, tasks


def main() -> None:
    sb.migrate()
    ews = sb.emulator()
    calls = [0]
    original = requests.Session.post

    def counting_post(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    requests.Session.post = counting_post  # type: ignore[method-assign]
    try:
        mailbox = sb.mailbox(ews, sb.profile(ews))
        for kind in ("calendar", "contacts", "tasks"):
            ews.control.seed(mailbox.email_address, kind, 50)
        run_cycle(mailbox.pk, respect_limit=False)  # the initial sync
        run_cycle(mailbox.pk, respect_limit=False)
        requests_per_cycle, cpu_ms, wall_ms = [], [], []
        for _ in tqdm(range(CYCLES), desc="idle cycles"):
            Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=None)
            calls[0] = 0
            cpu, wall = time.process_time(), time.perf_counter()
            result = run_cycle(mailbox.pk, respect_limit=False)
            cpu_ms.append((time.process_time() - cpu) * 1000)
            wall_ms.append((time.perf_counter() - wall) * 1000)
            requests_per_cycle.append(calls[0])
            assert result.error is None and result.items_processed == 0, result
        sb.report(
            {
                "benchmark": "sync_idle",
                "quick": QUICK,
                "cycles": CYCLES,
                "synced_folders": FOLDERS,
                "ews_requests_per_cycle": max(requests_per_cycle),
                "ews_requests_per_folder": round(max(requests_per_cycle) / FOLDERS, 2),
                "target_requests_per_folder": 2,
                "worker_cpu_ms_median": round(statistics.median(cpu_ms), 1),
                "worker_cpu_ms_p90": round(sorted(cpu_ms)[int(len(cpu_ms) * 0.9) - 1], 1),
                "wall_ms_median": round(statistics.median(wall_ms), 1),
                "target_worker_ms": 50,
            }
        )
    finally:
        requests.Session.post = original  # type: ignore[method-assign]
        ews.stop()


if __name__ == "__main__":
    main()
