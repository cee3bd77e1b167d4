"""The exceptions of recurring series: modified and deleted occurrences, both ways.

Exchange lists a series' exceptions on its master (`ModifiedOccurrences` with each one's
times and id, `DeletedOccurrences`); an exception's own subject, location, body and busy
status need a GetItem of the occurrence. Attendees of a single occurrence are not synced:
an exception has those of its series. The CRM keeps each exception as a child appointment
of the master (`series_master`, `original_start`, `is_cancelled`).

From the CRM to Exchange, an occurrence becomes an exception by UpdateItem on it, and is
deleted by DeleteItem; an occurrence that is not an exception yet is found by its original
start in a calendar view of the series. Exchange cannot bring a deleted occurrence back,
so a cancelled exception undone in the CRM stays deleted in Exchange.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from exchangelib import CalendarItem

from mailboxes.connectors.base import Canonical
from mailboxes.connectors.ews.converters.appointments import BUSY, exception_fields
from mailboxes.connectors.ews.converters.common import ews_datetime
from mailboxes.connectors.ews.errors import exchange_errors, raise_if_error
from mailboxes.connectors.ews.folders import delete_items, get_items, save_changes
from mailboxes.itemtypes.common import parse_utc, utc_iso

logger = logging.getLogger(__name__)

# What an exception may change of its series (besides its times), as exchangelib names it.
DETAIL_FIELDS = ("subject", "location", "body", "legacy_free_busy_status")
OCCURRENCE_FIELDS = ("start", "end", *DETAIL_FIELDS)
MASTER_FIELDS = ("uid", "modified_occurrences", "deleted_occurrences")
COMPARED = ("start", "end", "subject", "location", "description", "busy_status")


def modified_occurrences(folder: Any, series: Sequence[Any]) -> dict[str, Any]:
    """{occurrence id: occurrence} of the modified occurrences of these series, with their
    own subject, location, body and busy status (one GetItem)."""
    ids = [
        (o.id, o.changekey)
        for item in series
        for o in getattr(item, "modified_occurrences", None) or []
        if o.id
    ]
    found = {}
    for occurrence in get_items(folder, ids, only_fields=DETAIL_FIELDS):
        if not isinstance(occurrence, BaseException):
            found[occurrence.id] = occurrence
    return found


def push_exceptions(
    folder: Any, master_id: str, canonical: Canonical, *, delete_mode: str, send: bool
) -> None:
    """Make the exceptions of the series `master_id` in Exchange those of `canonical`."""
    modified = {o["original_start"]: o for o in canonical["modified_occurrences"]}
    deleted = set(canonical["deleted_occurrences"])
    if not modified and not deleted:
        return
    (master,) = get_items(folder, [(master_id, None)], only_fields=MASTER_FIELDS)
    raise_if_error(master)
    gone = {utc_iso(o.start) for o in master.deleted_occurrences or []}
    exceptions = {utc_iso(o.original_start): o for o in master.modified_occurrences or []}
    current = {
        o.id: o
        for o in get_items(
            folder,
            [(o.id, o.changekey) for o in exceptions.values()],
            only_fields=OCCURRENCE_FIELDS,
        )
        if not isinstance(o, BaseException)
    }
    wanted = sorted((set(modified) | deleted) - gone)
    found = _find_occurrences(folder, master.uid, [s for s in wanted if s not in exceptions])
    tz_name = canonical["time_zone"]
    updates: list[tuple[Any, list[str]]] = []
    deletes: list[tuple[str, str | None]] = []
    for original_start in wanted:
        occurrence = exceptions.get(original_start)
        ref = (occurrence.id, occurrence.changekey) if occurrence is not None else None
        ref = ref or found.get(original_start)
        if ref is None:
            logger.warning("series %s: no occurrence starts at %s", master_id, original_start)
            continue
        if original_start in deleted:
            deletes.append(ref)
            continue
        want = modified[original_start]
        have = current.get(ref[0])
        if have is not None:
            now = {"start": utc_iso(have.start), "end": utc_iso(have.end)}
            now |= exception_fields(have, None)
            if all(now[key] == want[key] for key in COMPARED):
                continue
        start, end = parse_utc(want["start"]), parse_utc(want["end"])
        assert start is not None and end is not None
        item = CalendarItem(
            account=folder.account,
            folder=folder,
            id=ref[0],
            changekey=ref[1],
            subject=want["subject"],
            start=ews_datetime(start, tz_name),
            end=ews_datetime(max(start, end), tz_name),
            location=want["location"] or None,
            body=want["description"] or None,
            legacy_free_busy_status=BUSY.name(want["busy_status"]),
        )
        updates.append((item, list(OCCURRENCE_FIELDS)))
    for result in save_changes(updates, folder.account, send_updates=send):
        raise_if_error(result)
    for result in delete_items(folder.account, deletes, mode=delete_mode):
        raise_if_error(result)


def _find_occurrences(
    folder: Any, uid: str | None, starts: Sequence[str]
) -> dict[str, tuple[str, str | None]]:
    """{original start: occurrence id} of unmodified occurrences of the series `uid`."""
    found: dict[str, tuple[str, str | None]] = {}
    for start in starts:
        when = parse_utc(start)
        assert when is not None
        with exchange_errors():
            view = folder.view(start=when, end=when + dt.timedelta(minutes=1))
            for item in view.only("uid", "start", "type"):
                raise_if_error(item)
                if item.type == "Occurrence" and item.uid == uid and utc_iso(item.start) == start:
                    found[start] = (item.id, item.changekey)
    return found
