"""Initial sync of one mailbox (10,000 appointments, 5,000 contacts, 2,000 tasks) against the
bare exchangelib download of the same folders (SyncFolderItems for the ids, then GetItem for
the fields, as SyncFolderItems returns no bodies, attendees or recurrences), in the same run.

    python bench/sync_initial.py [--quick]      (--quick: a tenth of the items)

`ratio` is the spec's figure: crmsync's sync over exchangelib's own `sync_items` download.
crmsync's connector downloads faster than `sync_items` (it parses each response whole, where
exchangelib feeds the parser one byte at a time, and fetches the next page while the CRM
writes the current one), so `ratio_vs_own_download` is also given: the sync over crmsync's
own download of the same folders with no CRM writes, i.e. what the CRM side costs. Both
downloads run once untimed first, so neither side pays for a cold emulator.
"""

from __future__ import annotations

import gc
import resource
import sys
import threading
import time

import _syncbench as sb
import psutil
from tqdm import tqdm

from mailboxes.connectors.ews import account_for
from mailboxes.connectors.ews.converters import CONVERTERS
from mailboxes.connectors.ews.folders import open_folder, sync_pages
from mailboxes.sync.cycle import run_cycle

QUICK = "--quick" in sys.argv
SCALE = 10 if QUICK else 1
COUNTS = {"calendar": 10_000 // SCALE, "contacts": 5_000 // SCALE, "tasks": 2_000 // SCALE}
CONVERTER_OF = {"calendar": "appointment", "contacts": "contact", "tasks": "task"}


def bare_download(mailbox, desc: str = "bare exchangelib download") -> float:
    """exchangelib's `sync_items` for the ids (SyncFolderItems returns no bodies, attendees
    or recurrences), then `fetch` (GetItem) of the mapped fields for each page of ids."""
    account = account_for(mailbox)
    started = time.perf_counter()
    for folder_name, count in tqdm(COUNTS.items(), desc=desc):
        folder = open_folder(account, folder_name)
        fields = CONVERTERS[CONVERTER_OF[folder_name]].ews_fields
        seen = 0
        ids: list = []
        for _change, item_id in folder.sync_items(only_fields=(), max_changes_returned=512):
            ids.append(item_id)
            if len(ids) == 512:
                seen += sum(1 for _ in account.fetch(ids=ids, folder=folder, only_fields=fields))
                ids = []
        seen += sum(1 for _ in account.fetch(ids=ids, folder=folder, only_fields=fields))
        assert seen == count, (folder_name, seen, count)
    return time.perf_counter() - started


def own_download(mailbox, desc: str = "crmsync's download, no CRM writes") -> float:
    account = account_for(mailbox)
    started = time.perf_counter()
    for folder_name, count in tqdm(COUNTS.items(), desc=desc):
        folder = open_folder(account, folder_name)
        fields = CONVERTERS[CONVERTER_OF[folder_name]].ews_fields
        seen = sum(len(page.changes) for page in sync_pages(folder, None, get_fields=fields))
        assert seen == count, (folder_name, seen, count)
    return time.perf_counter() - started


def main() -> None:
    sb.migrate()
    ews = sb.emulator()
    try:
        prof = sb.profile(ews)
        mailbox = sb.mailbox(ews, prof)
        for folder_name, count in tqdm(COUNTS.items(), desc="seeding the emulator"):
            for start in range(0, count, 5000):
                ews.control.seed(mailbox.email_address, folder_name, min(5000, count - start))
        load_before = sb.load_average()
        bare_download(mailbox, "warm-up: exchangelib download")
        own_download(mailbox, "warm-up: crmsync's download")
        me, emulator = psutil.Process().pid, ews.pid
        cpu = [sb.cpu_seconds(me), sb.cpu_seconds(emulator)]

        def cpu_used() -> tuple[float, float]:
            now = [sb.cpu_seconds(me), sb.cpu_seconds(emulator)]
            used = (now[0] - cpu[0], now[1] - cpu[1])
            cpu[:] = now
            return used

        bare = bare_download(mailbox)
        bare_cpu = cpu_used()
        own = own_download(mailbox)
        own_cpu = cpu_used()
        gc.collect()
        process = psutil.Process()
        peak = [process.memory_info().rss]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], process.memory_info().rss)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rss_before = process.memory_info().rss
        bar = tqdm(desc="crmsync initial sync", total=sum(COUNTS.values()))
        totals: dict[str, int] = {}

        def progress(label: str, n: int, total: int | None) -> None:
            totals[label] = n
            bar.n = min(sum(totals.values()), int(bar.total or 0))
            bar.refresh()

        cpu_used()
        started = time.perf_counter()
        result = run_cycle(mailbox.pk, progress=progress, respect_limit=False)
        synced = time.perf_counter() - started
        sync_cpu = cpu_used()
        done.set()
        bar.close()
        assert result.error is None, result.error
        from activities.models import Appointment, Contact, Task

        counts = {
            "appointments": Appointment.objects.filter(owner_user=mailbox.user).count(),
            "contacts": Contact.objects.filter(owner_user=mailbox.user).count(),
            "tasks": Task.objects.filter(owner_user=mailbox.user).count(),
        }
        assert counts == {
            "appointments": COUNTS["calendar"],
            "contacts": COUNTS["contacts"],
            "tasks": COUNTS["tasks"],
        }, counts
        sb.report(
            {
                "benchmark": "sync_initial",
                "quick": QUICK,
                "items": sum(COUNTS.values()),
                "bare_exchangelib_seconds": round(bare, 2),
                "crmsync_seconds": round(synced, 2),
                "ratio": round(synced / bare, 2),
                "own_download_seconds": round(own, 2),
                "bare_cpu_seconds": {
                    "client": round(bare_cpu[0], 2),
                    "emulator": round(bare_cpu[1], 2),
                },
                "own_download_cpu_seconds": {
                    "client": round(own_cpu[0], 2),
                    "emulator": round(own_cpu[1], 2),
                },
                "crmsync_cpu_seconds": {
                    "client": round(sync_cpu[0], 2),
                    "emulator": round(sync_cpu[1], 2),
                },
                "cpu_ratio": round(sum(sync_cpu) / sum(bare_cpu), 2),
                "ratio_vs_own_download": round(synced / own, 2),
                "load_average_before": load_before,
                "load_average_after": sb.load_average(),
                "target_ratio": 1.5,
                "peak_rss_mb": round(peak[0] / 2**20, 1),
                "rss_growth_during_sync_mb": round((peak[0] - rss_before) / 2**20, 1),
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    finally:
        ews.stop()


if __name__ == "__main__":
    main()
