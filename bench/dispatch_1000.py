"""1,000 idle mailboxes: one dispatcher pass and all their cycles, with two worker processes.

python bench/dispatch_1000.py [--quick]      (--quick: 200 mailboxes)
"""

from __future__ import annotations

import subprocess
import sys
import time

import _syncbench as sb
from tqdm import tqdm

from mailboxes.models import Mailbox
from mailboxes.sync.cycle import run_cycle
from mailboxes.tasks import dispatch_due_mailboxes

QUICK = "--quick" in sys.argv
COUNT = 200 if QUICK else 1000


def main() -> None:
    sb.migrate()
    ews = sb.emulator()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        prof = sb.profile(ews, max_concurrent_connections=300)
        boxes = [sb.mailbox(ews, prof) for _ in tqdm(range(COUNT), desc="mailboxes")]
        # Make them idle: one initial (empty) cycle each, then all due now.
        for box in tqdm(boxes, desc="initial cycles"):
            run_cycle(box.pk, respect_limit=False)
        ids = [b.pk for b in boxes]
        Mailbox.objects.filter(pk__in=ids).update(next_due_at=None, last_success_at=None)
        workers = sb.start_workers(2)
        load_before = sb.load_average()
        started = time.perf_counter()
        dispatch_due_mailboxes.delay()
        bar = tqdm(total=COUNT, desc="idle cycles done")
        while True:
            done = Mailbox.objects.filter(pk__in=ids, last_success_at__isnull=False).count()
            bar.n = done
            bar.refresh()
            if done == COUNT:
                break
            if time.perf_counter() - started > 600:
                raise SystemExit("timed out")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        bar.close()
        failed = Mailbox.objects.filter(pk__in=ids).exclude(last_error_code="").count()
        sb.report(
            {
                "benchmark": "dispatch_1000",
                "quick": QUICK,
                "mailboxes": COUNT,
                "workers": 2,
                "seconds": round(elapsed, 2),
                "target_seconds": 60,
                "cycles_per_second": round(COUNT / elapsed, 1),
                "mailboxes_with_errors": failed,
                "load_average_before": load_before,
                "load_average_after": sb.load_average(),
            }
        )
    finally:
        sb.stop_processes(workers)
        ews.stop()


if __name__ == "__main__":
    main()
