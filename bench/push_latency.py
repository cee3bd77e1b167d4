"""With push: a change made in Exchange reaches the CRM; seconds from the change to the row.

The listener holds a streaming subscription; on an event it runs the mailbox's cycle (here
in-process, where production enqueues `sync_mailbox` for a worker).

    python bench/push_latency.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

import _syncbench as sb
from tqdm import tqdm

from activities.models import Task
from mailboxes.models import Mailbox
from mailboxes.sync.cycle import run_cycle
from mailboxes.sync.listener import listen_to_mailbox

QUICK = "--quick" in sys.argv
CHANGES = 3 if QUICK else 10


def main() -> None:
    sb.migrate()
    ews = sb.emulator()
    stop = threading.Event()
    try:
        mailbox = sb.mailbox(ews, sb.profile(ews))
        run_cycle(mailbox.pk, respect_limit=False)

        def on_change(mailbox_id: int) -> None:
            Mailbox.objects.filter(pk=mailbox_id).update(next_due_at=None)
            run_cycle(mailbox_id, respect_limit=False)

        listener = threading.Thread(
            target=listen_to_mailbox, args=(mailbox.pk, stop, on_change), daemon=True
        )
        listener.start()
        time.sleep(1.5)
        latencies = []
        for n in tqdm(range(CHANGES), desc="changes pushed"):
            subject = f"Pushed {n}"
            made = time.perf_counter()
            ews.control.create_item(mailbox.email_address, "task", {"Subject": subject})
            while not Task.objects.filter(owner_user=mailbox.user, subject=subject).exists():
                if time.perf_counter() - made > 30:
                    raise SystemExit("change never arrived")
                time.sleep(0.02)
            latencies.append(time.perf_counter() - made)
            time.sleep(0.5)
        sb.report(
            {
                "benchmark": "push_latency",
                "quick": QUICK,
                "changes": CHANGES,
                "median_seconds": round(statistics.median(latencies), 2),
                "max_seconds": round(max(latencies), 2),
                "target_seconds": 5,
            }
        )
    finally:
        stop.set()
        ews.stop()


if __name__ == "__main__":
    main()
