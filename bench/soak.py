"""Soak: many mailboxes, a steady trickle of changes on both sides, random server faults,
two Celery workers, beat and the push listener, for a long while; then every change is
checked on the other side.

    python bench/soak.py [--quick] [--mailboxes N] [--minutes M]

Default 1,000 mailboxes for 30 minutes; `--quick` 200 mailboxes for 2 minutes (the set-up
of 1,000 mailboxes alone takes minutes on a small machine). A change is a task created in
Exchange (through the emulator's control API: it reaches the CRM by the push listener or the
next poll) or in the CRM (a CRM change makes its mailbox due at once). Faults are armed at
random on random mailboxes: ErrorServerBusy, HTTP 429, 500 and 503, dropped connections.
After the trickle stops the run waits for convergence (at most 3 minutes), then prints,
last, one JSON line: changes applied, duplicates, losses, p50/p95 seconds from a change to
the other side, worker RSS after the first minute and at the end, database growth.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import _syncbench as sb
from tqdm import tqdm

from activities.models import Task
from mailboxes.models import Mailbox
from mailboxes.sync.cycle import run_cycle

FAULTS = ("server_busy", "http_429", "http_500", "http_503", "drop")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def workers_rss_mb(workers: list[subprocess.Popen[bytes]]) -> list[float]:
    return [round(rss_kb(w.pid) / 1024, 1) for w in workers]


def database_mb() -> float:
    path = sb.WORKDIR / "bench.sqlite3"
    size = path.stat().st_size
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        size += wal.stat().st_size
    return round(size / 1024 / 1024, 2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mailboxes", type=int)
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    count = args.mailboxes or (200 if args.quick else 1000)
    minutes = args.minutes or (2 if args.quick else 30)
    rng = random.Random(args.seed)

    sb.migrate()
    ews = sb.emulator()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # One-minute polling: the shortest a profile allows.
        prof = sb.profile(ews, max_concurrent_connections=300, min_polling_interval_minutes=1)
        boxes = [sb.mailbox(ews, prof) for _ in tqdm(range(count), desc="mailboxes")]
        for box in tqdm(boxes, desc="initial cycles"):
            run_cycle(box.pk, respect_limit=False)
        Mailbox.objects.filter(pk__in=[b.pk for b in boxes]).update(next_due_at=None)
        db_start = database_mb()
        workers = sb.start_workers(2)
        processes.extend(workers)
        processes.append(sb.start_process(["-m", "celery", "-A", "crmsync", "beat"], "beat"))
        processes.append(sb.start_process(["manage.py", "listen_exchange"], "listener"))
        time.sleep(5)

        made_in_exchange: dict[str, tuple[Mailbox, float]] = {}
        made_in_crm: dict[str, tuple[Mailbox, float]] = {}
        faults = 0
        rss_first: list[float] = []
        started = time.time()
        end = started + minutes * 60
        bar = tqdm(total=int(minutes * 60), desc="soak seconds")
        n = 0
        while time.time() < end:
            n += 1
            box = rng.choice(boxes)
            subject = f"soak-{n}"
            if rng.random() < 0.5:
                ews.control.create_item(box.email_address, "task", {"Subject": subject})
                made_in_exchange[subject] = (box, time.time())
            else:
                Task.objects.create(owner_user=box.user, subject=subject)
                made_in_crm[subject] = (box, time.time())
            if rng.random() < 0.05:
                victim = rng.choice(boxes)
                ews.control.inject_fault(
                    rng.choice(FAULTS), mailbox=victim.email_address, back_off_ms=5000
                )
                faults += 1
            if not rss_first and time.time() - started >= 60:
                rss_first = workers_rss_mb(workers)
            time.sleep(rng.uniform(0.2, 0.8))
            bar.n = int(time.time() - started)
            bar.refresh()
        bar.close()
        if not rss_first:
            rss_first = workers_rss_mb(workers)

        # Convergence: wait until every change is on the other side (3 minutes at most).
        ews.control.clear_faults()
        arrived_crm: dict[str, float] = {}
        arrived_ex: dict[str, float] = {}
        deadline = time.time() + 180
        while time.time() < deadline:
            for subject, created in Task.objects.filter(
                subject__in=[s for s in made_in_exchange if s not in arrived_crm]
            ).values_list("subject", "created_at"):
                arrived_crm.setdefault(subject, created.timestamp())
            pending = {s: b for s, (b, _t) in made_in_crm.items() if s not in arrived_ex}
            for box in {b.pk: b for b in pending.values()}.values():
                for item in ews.control.items(box.email_address, "tasks"):
                    if item["subject"] in pending and item["subject"] not in arrived_ex:
                        arrived_ex[item["subject"]] = _timestamp(item["created"])
            if len(arrived_crm) == len(made_in_exchange) and len(arrived_ex) == len(made_in_crm):
                break
            time.sleep(2)
        rss_end = workers_rss_mb(workers)

        crm_counts = Counter(
            Task.objects.filter(subject__startswith="soak-").values_list("subject", flat=True)
        )
        ex_counts: Counter[str] = Counter()
        for box in {b.pk: b for b, _t in made_in_crm.values()}.values():
            ex_counts.update(
                i["subject"]
                for i in ews.control.items(box.email_address, "tasks")
                if str(i["subject"]).startswith("soak-")
            )
        duplicates = sum(c - 1 for c in crm_counts.values() if c > 1) + sum(
            c - 1 for s, c in ex_counts.items() if c > 1 and s in made_in_crm
        )
        losses = (len(made_in_exchange) - len(arrived_crm)) + (len(made_in_crm) - len(arrived_ex))
        latencies = [
            arrived_crm[s] - t for s, (_b, t) in made_in_exchange.items() if s in arrived_crm
        ]
        latencies += [arrived_ex[s] - t for s, (_b, t) in made_in_crm.items() if s in arrived_ex]
        errors = Mailbox.objects.filter(pk__in=[b.pk for b in boxes]).exclude(last_error_code="")
        sb.report(
            {
                "benchmark": "soak",
                "quick": args.quick,
                "mailboxes": count,
                "minutes": minutes,
                "workers": 2,
                "changes_made": len(made_in_exchange) + len(made_in_crm),
                "changes_applied": len(arrived_crm) + len(arrived_ex),
                "duplicates": duplicates,
                "losses": losses,
                "faults_armed": faults,
                "p50_seconds": percentile(latencies, 0.5),
                "p95_seconds": percentile(latencies, 0.95),
                "mean_seconds": round(statistics.fmean(latencies), 2) if latencies else None,
                "poll_interval_seconds": 60,
                "worker_rss_mb_after_first_minute": rss_first,
                "worker_rss_mb_end": rss_end,
                "database_mb_start": db_start,
                "database_mb_end": database_mb(),
                "mailboxes_with_last_error": errors.count(),
                "load_average": sb.load_average(),
            }
        )
    finally:
        sb.stop_processes(processes)
        ews.stop()


def _timestamp(value: object) -> float:
    """The emulator's creation time of an item (ISO text) in seconds since the epoch."""
    text = str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


if __name__ == "__main__":
    main()
