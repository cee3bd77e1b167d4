"""With push: a change made in Exchange reaches the CRM; seconds from the change to the row.

As in production: `manage.py listen_exchange` holds the streaming subscription and, on an
event, enqueues `sync_mailbox` on the broker, and a Celery worker process runs the cycle.
The broker is the settings' (`CELERY_BROKER_URL`; the embedded filesystem broker by
default, whose idle worker looks for messages once a second; Redis answers at once).

    python bench/push_latency.py [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import _syncbench as sb
from django.conf import settings
from tqdm import tqdm

from activities.models import Task
from mailboxes.sync.cycle import run_cycle

QUICK = "--quick" in sys.argv
CHANGES = 3 if QUICK else 10


def wait_for_task(mailbox, subject: str, timeout: float = 30) -> float:
    made = time.perf_counter()
    while not Task.objects.filter(owner_user=mailbox.user, subject=subject).exists():
        if time.perf_counter() - made > timeout:
            raise SystemExit(f"{subject!r} never arrived; see {sb.WORKDIR}")
        time.sleep(0.02)
    return time.perf_counter() - made


def main() -> None:
    sb.migrate()
    ews = sb.emulator()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        mailbox = sb.mailbox(ews, sb.profile(ews))
        run_cycle(mailbox.pk, respect_limit=False)
        processes = sb.start_workers(1)
        processes.append(sb.start_process(["manage.py", "listen_exchange"], "listener"))
        # Changes made before the listener's subscription opened raise no event: make one
        # every few seconds until one arrives (not measured).
        deadline = time.perf_counter() + 60
        while not Task.objects.filter(owner_user=mailbox.user).exists():
            if time.perf_counter() > deadline:
                raise SystemExit(f"the listener never reported a change; see {sb.WORKDIR}")
            ews.control.create_item(mailbox.email_address, "task", {"Subject": "Warm-up"})
            time.sleep(3)
        time.sleep(0.5)
        latencies = []
        for n in tqdm(range(CHANGES), desc="changes pushed"):
            subject = f"Pushed {n}"
            made = time.perf_counter()
            ews.control.create_item(mailbox.email_address, "task", {"Subject": subject})
            wait_for_task(mailbox, subject)
            latencies.append(time.perf_counter() - made)
            time.sleep(0.5)
        sb.report(
            {
                "benchmark": "push_latency",
                "quick": QUICK,
                "changes": CHANGES,
                "broker": settings.CELERY_BROKER_URL.split("://")[0],
                "median_seconds": round(statistics.median(latencies), 2),
                "max_seconds": round(max(latencies), 2),
                "target_seconds": 5,
                "load_average": sb.load_average(),
            }
        )
    finally:
        sb.stop_processes(processes)
        ews.stop()


if __name__ == "__main__":
    main()
