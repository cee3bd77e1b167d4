"""Initial sync of one Microsoft 365 mailbox over Graph (10,000 appointments, 5,000 contacts,
2,000 tasks) against a bare msal + requests loop that downloads the same delta pages, then
the cycles that write the CRM record ids on the items, then the idle cycle's requests per
folder.

    python bench/graph_act.py [--quick]      (--quick: a tenth of the items)

The bare loop takes a token with msal and follows the deltas crmsync reads, page size
included (`calendarView/delta` over the same window, `contacts/delta` with the contact
converter's `$select`, the default To Do list's `tasks/delta`), keeping nothing. `ratio` is
crmsync's initial sync over the bare loop (target 1.5): the first cycle until every item is
a record in the CRM with its mapping (its download, the CRM writes), which is when the
cycle starts writing the record ids on the items (`mailboxes/sync/stamps.py`: over Graph
at most `CRMSYNC_GRAPH_STAMPS_PER_CYCLE`, 2,500, a cycle, after the pull).
`crmsync_cpu_seconds` is this process's CPU time (all its threads) over the same part of
the cycle: less dependent on the machine's load than the wall clock (the emulator runs in
a process of its own).
`initial_sync_graph_requests` is the emulator's count of the mailbox's Graph requests until
then, each request of a `$batch` counted (as Graph counts them against the mailbox's budget
of 10,000 per 10 minutes, lifted here).

The marks are reported separately: `stamp_cycles` is the number of cycles with marks to
write (the first included), `stamp_seconds` their time from the first mark on (each later
cycle also reads back the items marked by the one before), `stamp_graph_requests` their
requests. `readback_*` is the cycle after the last marks (it reads those items back and
writes nothing), the idle cycle the one after it: `idle_requests_per_folder` is the
emulator's count of Graph requests for the mailbox over the three folders (target 1).
`connector_download_over_bare` is the connector alone reading the same folders as a first
sync of a new mailbox does (canonical forms, series masters, the contacts' and tasks'
extended properties; no record ids, as nothing in the CRM could link to them), with no CRM
writes. The downloads run once untimed first. Progress bars go to stderr; the figures are
printed last as one JSON line.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass

import _syncbench as sb
import msal
import requests
from django.conf import settings
from tqdm import tqdm

from activities.models import Appointment, Contact, Task
from ews_emulator.control import ControlClient
from mailboxes.connectors.graph.act import PAGE_SIZE
from mailboxes.connectors.graph.calendar import CALENDAR_PAGE, _State
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.connectors.graph.converters import GRAPH_CONVERTERS
from mailboxes.itemtypes import TYPES
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox
from mailboxes.sync.cycle import run_cycle
from mailboxes.sync.stamps import PROGRESS_LABEL

QUICK = "--quick" in sys.argv
SCALE = 10 if QUICK else 1
COUNTS = {"calendar": 10_000 // SCALE, "contacts": 5_000 // SCALE, "tasks": 2_000 // SCALE}
SCOPE = ["https://graph.microsoft.com/.default"]


def bare_download(
    base: str, ca_file: str, address: str, desc: str = "bare msal + requests"
) -> float:
    """The same delta pages as crmsync reads, through msal and requests, keeping nothing."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    app = msal.ConfidentialClientApplication(
        sb.CLIENT_ID,
        client_credential=sb.SECRET,
        authority=f"{base}/{sb.TENANT}",
        instance_discovery=False,
        http_client=session,
    )
    user = f"{base}/v1.0/users/{address}"
    window = _State.open(dt.datetime.now(dt.UTC), None)

    def pages(url: str, params: dict[str, str] | None, page_size: int) -> int:
        seen, query = 0, params
        next_url: str | None = url
        while next_url:
            token = app.acquire_token_for_client(scopes=SCOPE)["access_token"]
            page = session.get(
                next_url,
                params=query,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Prefer": f'IdType="ImmutableId", odata.maxpagesize={page_size}',
                },
                timeout=120,
            ).json()
            query = None
            seen += sum(1 for item in page["value"] if "@removed" not in item)
            next_url = page.get("@odata.nextLink")
        return seen

    started = time.perf_counter()
    with tqdm(total=3, desc=desc) as bar:
        calendar = pages(
            f"{user}/calendarView/delta",
            {"startDateTime": iso(window.start), "endDateTime": iso(window.end)},
            CALENDAR_PAGE,
        )
        bar.update()
        select = ",".join(GRAPH_CONVERTERS[ItemType.CONTACT].select)
        contacts = pages(f"{user}/contacts/delta", {"$select": select}, PAGE_SIZE)
        bar.update()
        token = app.acquire_token_for_client(scopes=SCOPE)["access_token"]
        lists = session.get(
            f"{user}/todo/lists", headers={"Authorization": f"Bearer {token}"}, timeout=60
        ).json()["value"]
        default = next(
            entry["id"] for entry in lists if entry["wellknownListName"] == "defaultList"
        )
        select = ",".join(GRAPH_CONVERTERS[ItemType.TASK].select)
        tasks = pages(f"{user}/todo/lists/{default}/tasks/delta", {"$select": select}, PAGE_SIZE)
        bar.update()
    elapsed = time.perf_counter() - started
    assert (calendar, contacts, tasks) == tuple(COUNTS.values()), (calendar, contacts, tasks)
    return elapsed


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def connector_download(mailbox: Mailbox, desc: str = "crmsync's connector, no CRM writes") -> float:
    """The same folders read through the Graph connector (canonical forms, stamps, series),
    with no CRM writes and no stamps written: what the connector adds to the bare loop."""
    connector = GraphMailboxConnector.for_mailbox(mailbox)
    started = time.perf_counter()
    seen = []
    for item_type in tqdm((ItemType.APPOINTMENT, ItemType.CONTACT, ItemType.TASK), desc=desc):
        kind = TYPES[item_type]
        items = connector.items(kind)
        pages = items.changes(kind.default_folder, None, stamps=False)
        seen.append(sum(len(p.changed) for p in pages))
    elapsed = time.perf_counter() - started
    assert tuple(seen) == tuple(COUNTS.values()), seen
    return elapsed


@dataclass
class Cycle:
    seconds: float
    # This process's CPU seconds (every thread) over the cycle.
    cpu_seconds: float = 0.0
    # Seconds from the start to the first report of the marks' pass (None: no marks), the
    # CPU seconds then, and the emulator's request count then.
    marks_from: float | None = None
    cpu_before_marks: float = 0.0
    requests_before_marks: int = 0


def cycle(mailbox: Mailbox, desc: str, control: ControlClient | None = None) -> Cycle:
    bar = tqdm(desc=desc, total=sum(COUNTS.values()))
    totals: dict[str, int] = {}
    result = Cycle(0.0)

    def progress(label: str, n: int, total: int | None) -> None:
        if label == PROGRESS_LABEL and result.marks_from is None:
            result.marks_from = time.perf_counter() - started
            result.cpu_before_marks = time.process_time() - cpu_started
            if control is not None:
                counters = control.graph_counters()["requests"]
                result.requests_before_marks = int(counters.get(mailbox.email_address, 0))
        totals[label] = n
        bar.n = min(sum(totals.values()), int(bar.total or 0))
        bar.refresh()

    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = run_cycle(mailbox.pk, progress=progress, respect_limit=False)
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    bar.close()
    assert outcome.error is None, outcome.error
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=None)
    return result


def pending(mailbox: Mailbox) -> int:
    return ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, stamp_pending=True).count()


def main() -> None:
    sb.migrate()
    with sb.graph_tenant() as tenant:
        control = tenant.control
        prof = sb.graph_profile(tenant, connection_timeout_ms=120_000)
        mailbox = sb.graph_mailbox(tenant, prof)
        address = mailbox.email_address
        for kind, count in tqdm(COUNTS.items(), desc="seeding the emulator"):
            for start in range(0, count, 5000):
                control.seed(address, kind, min(5000, count - start))
        load_before = sb.load_average()
        bare_download(tenant.base, tenant.ca_file, address, "warm-up: bare msal + requests")
        bare = bare_download(tenant.base, tenant.ca_file, address)
        connector_download(mailbox, "warm-up: crmsync's connector")
        own = connector_download(mailbox)
        control.graph_counters(reset=True)
        first = cycle(mailbox, "crmsync initial sync over Graph", control)
        synced = first.seconds if first.marks_from is None else first.marks_from
        synced_cpu = first.cpu_seconds if first.marks_from is None else first.cpu_before_marks
        initial_requests = (
            first.requests_before_marks
            if first.marks_from is not None
            else int(control.graph_counters()["requests"].get(address, 0))
        )
        counts = (
            Appointment.objects.filter(owner_user=mailbox.user).count(),
            Contact.objects.filter(owner_user=mailbox.user).count(),
            Task.objects.filter(owner_user=mailbox.user).count(),
        )
        assert counts == tuple(COUNTS.values()), counts
        stamp_cycles = 1 if first.marks_from is not None else 0
        stamp_seconds = first.seconds - synced
        while pending(mailbox):
            stamp_cycles += 1
            stamp_seconds += cycle(mailbox, f"marks, cycle {stamp_cycles}").seconds
        stamp_requests = int(control.graph_counters()["requests"].get(address, 0))
        stamp_requests -= initial_requests
        control.graph_counters(reset=True)
        readback = cycle(mailbox, "the last marked items read back")
        readback_requests = int(control.graph_counters()["requests"].get(address, 0))
        control.graph_counters(reset=True)
        idle = cycle(mailbox, "idle cycle").seconds
        requests_idle = int(control.graph_counters()["requests"].get(address, 0))
        sb.report(
            {
                "benchmark": "graph_act",
                "quick": QUICK,
                "items": sum(COUNTS.values()),
                "bare_msal_requests_seconds": round(bare, 2),
                "crmsync_seconds": round(synced, 2),
                "ratio": round(synced / bare, 2),
                "crmsync_cpu_seconds": round(synced_cpu, 2),
                "connector_download_seconds": round(own, 2),
                "connector_download_over_bare": round(own / bare, 2),
                "target_ratio": 1.5,
                "initial_sync_graph_requests": initial_requests,
                "stamps_per_cycle": settings.CRMSYNC_GRAPH_STAMPS_PER_CYCLE,
                "stamp_cycles": stamp_cycles,
                "stamp_seconds": round(stamp_seconds, 2),
                "stamp_graph_requests": stamp_requests,
                "readback_seconds": round(readback.seconds, 2),
                "readback_requests": readback_requests,
                "idle_cycle_seconds": round(idle, 3),
                "idle_requests": requests_idle,
                "idle_requests_per_folder": round(requests_idle / 3, 2),
                "load_average_before": load_before,
                "load_average_after": sb.load_average(),
            }
        )


if __name__ == "__main__":
    main()
