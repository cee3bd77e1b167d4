"""Graph events ⇄ the canonical appointment (`mailboxes/itemtypes/appointments.py`).

Times come in UTC (or any zone: they are parsed with theirs) and are compared in UTC; the
event's zone is its `originalStartTimeZone`. An all-day event is its first and last day in
that zone. A series master's modified occurrences are its `exception` instances (by
`originalStart`), its deleted ones the pattern's occurrences no instance answers for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

from activities.models import ActivityParty
from mailboxes.connectors.base import Canonical
from mailboxes.connectors.choices import GRAPH_BUSY, GRAPH_RESPONSE, ChoiceNames
from mailboxes.connectors.graph.converters import recurrence as rec
from mailboxes.connectors.graph.converters.common import (
    Json,
    body_of,
    date_time,
    iana_zone,
    parse_date_time,
    parse_offset,
    stamp_property,
    text_body,
    zone_info,
)
from mailboxes.itemtypes.appointments import party, sorted_parties
from mailboxes.itemtypes.common import categories, parse_date, parse_utc, utc_iso
from mailboxes.itemtypes.recurrence import expected_starts

SELECT = (
    "subject",
    "body",
    "location",
    "start",
    "end",
    "isAllDay",
    "showAs",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "categories",
    "iCalUId",
    "isDraft",
    "organizer",
    "attendees",
    "recurrence",
    "type",
    "seriesMasterId",
    "originalStart",
    "originalStartTimeZone",
    "isCancelled",
    "lastModifiedDateTime",
    "changeKey",
)
# What an exception instance contributes to its series' canonical form.
INSTANCE_SELECT = ("type", "originalStart", "start", "end", "subject", "location", "body", "showAs")
BUSY, RESPONSE = GRAPH_BUSY, GRAPH_RESPONSE
ROLE = ChoiceNames(
    {
        ActivityParty.Role.REQUIRED_ATTENDEE: "required",
        ActivityParty.Role.OPTIONAL_ATTENDEE: "optional",
        ActivityParty.Role.RESOURCE: "resource",
    },
    default=ActivityParty.Role.REQUIRED_ATTENDEE,
)


def _utc(value: Json | None) -> str | None:
    return utc_iso(parse_date_time(value))


def exception_canonical(instance: Json) -> dict[str, str | None]:
    """A series' exception instance as one of its canonical `modified_occurrences`."""
    return {
        "original_start": utc_iso(parse_offset(instance.get("originalStart"))),
        "start": _utc(instance.get("start")),
        "end": _utc(instance.get("end")),
        "subject": instance.get("subject") or "",
        "location": str((instance.get("location") or {}).get("displayName") or ""),
        "description": body_of(instance),
        "busy_status": BUSY.crm(instance.get("showAs")),
    }


class GraphEventConverter:
    select: ClassVar[tuple[str, ...]] = SELECT
    instance_select: ClassVar[tuple[str, ...]] = INSTANCE_SELECT

    def canonical(
        self,
        event: Json,
        *,
        exceptions: Sequence[Json] = (),
        deleted_starts: Sequence[str] = (),
    ) -> Canonical:
        """The event's canonical form; a series master's `exceptions` (its exception
        instances) and `deleted_starts` (UTC ISO starts of its cancelled occurrences)."""
        tz_name = iana_zone(event.get("originalStartTimeZone"))
        all_day = bool(event.get("isAllDay"))
        start_at = parse_date_time(event.get("start"))
        end_at = parse_date_time(event.get("end"))
        start: str | None
        end: str | None
        if all_day and start_at is not None and end_at is not None:
            zone = zone_info(tz_name)
            first = start_at.astimezone(zone).date()
            last = (end_at - dt.timedelta(days=1)).astimezone(zone).date()
            start, end = first.isoformat(), max(first, last).isoformat()
        else:
            start, end = utc_iso(start_at), utc_iso(end_at)
        parties = []
        for attendee in event.get("attendees") or []:
            address = str((attendee.get("emailAddress") or {}).get("address") or "")
            if not address:
                continue
            response = (attendee.get("status") or {}).get("response")
            parties.append(
                party(
                    address,
                    str((attendee.get("emailAddress") or {}).get("name") or ""),
                    ROLE.crm(attendee.get("type")),
                    RESPONSE.crm(response),
                )
            )
        organizer_address = (event.get("organizer") or {}).get("emailAddress") or {}
        organizer = None
        if organizer_address.get("address"):
            organizer = {
                "address": str(organizer_address["address"]).strip().lower(),
                "name": str(organizer_address.get("name") or ""),
            }
        master = event.get("type") == "seriesMaster"
        return {
            "subject": event.get("subject") or "",
            "description": body_of(event),
            "location": str((event.get("location") or {}).get("displayName") or ""),
            "start": start,
            "end": end,
            "is_all_day": all_day,
            "time_zone": tz_name,
            "busy_status": BUSY.crm(event.get("showAs")),
            "reminder_minutes": int(event.get("reminderMinutesBeforeStart") or 0)
            if event.get("isReminderOn")
            else None,
            "categories": categories(event.get("categories")),
            "organizer": organizer,
            "attendees": sorted_parties(parties),
            "recurrence": rec.from_graph(event.get("recurrence")) if master else None,
            "deleted_occurrences": sorted(deleted_starts) if master else [],
            "modified_occurrences": sorted(
                (exception_canonical(e) for e in exceptions if e.get("type") == "exception"),
                key=lambda o: o["original_start"] or "",
            )
            if master
            else [],
            "is_cancelled": bool(event.get("isCancelled")),
        }

    def payload(
        self,
        canonical: Canonical,
        *,
        record_id: int | None = None,
        series: bool = True,
    ) -> Json:
        """The Graph event to create, or to PATCH over the whole synced state (`series`:
        with its recurrence; an occurrence takes none)."""
        tz_name = canonical["time_zone"] or "UTC"
        if canonical["is_all_day"]:
            first = parse_date(canonical["start"])
            last = parse_date(canonical["end"]) or first
            assert first is not None and last is not None
            zone = zone_info(tz_name)
            start_at = dt.datetime.combine(first, dt.time(0, 0), tzinfo=zone)
            end_at = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0, 0), tzinfo=zone)
        else:
            start_utc, end_utc = parse_utc(canonical["start"]), parse_utc(canonical["end"])
            assert start_utc is not None and end_utc is not None
            start_at, end_at = start_utc, end_utc
        reminder = canonical["reminder_minutes"]
        body: Json = {
            "subject": canonical["subject"],
            "body": text_body(canonical["description"]),
            "location": {"displayName": canonical["location"]},
            "start": date_time(start_at, tz_name),
            "end": date_time(end_at, tz_name),
            "isAllDay": canonical["is_all_day"],
            "showAs": BUSY.name(canonical["busy_status"]),
            "isReminderOn": reminder is not None,
            "reminderMinutesBeforeStart": reminder if reminder is not None else 0,
            "categories": categories(canonical["categories"]),
            "attendees": [
                {
                    "emailAddress": {"address": p["address"], "name": p["name"] or p["address"]},
                    "type": ROLE.name(p["role"]),
                }
                for p in canonical["attendees"]
            ],
        }
        if series and canonical["recurrence"]:
            body["recurrence"] = rec.to_graph(canonical["recurrence"], tz_name)
        if record_id is not None:
            body["singleValueExtendedProperties"] = [stamp_property(record_id)]
        return body

    def occurrence_payload(self, occurrence: dict[str, str], tz_name: str) -> Json:
        """The PATCH that makes an occurrence the canonical exception `occurrence`."""
        start, end = parse_utc(occurrence["start"]), parse_utc(occurrence["end"])
        assert start is not None and end is not None
        return {
            "subject": occurrence["subject"],
            "location": {"displayName": occurrence["location"]},
            "body": text_body(occurrence["description"]),
            "showAs": BUSY.name(occurrence["busy_status"]),
            "start": date_time(start, tz_name or "UTC"),
            "end": date_time(end, tz_name or "UTC"),
        }


def series_window(master: Json, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The window whose instances hold every exception and cancelled occurrence of a series
    master: its range, or up to two years ahead of `now` for a series without an end."""
    recurrence = rec.from_graph(master.get("recurrence"))
    first = parse_date_time(master.get("start"))
    if recurrence is None or first is None:
        return None
    zone = zone_info(iana_zone(master.get("originalStartTimeZone")))
    start_day = parse_date(recurrence["boundary"].get("start")) or first.date()
    begin = dt.datetime.combine(start_day, dt.time(0, 0), tzinfo=zone)
    horizon = max(now, first) + dt.timedelta(days=730)
    expected = expected_starts(recurrence, first.astimezone(zone), horizon)
    last = expected[-1] if expected else first
    return begin, last + dt.timedelta(days=1)


def series_details(
    master: Json, instances: Sequence[Json], window_end: dt.datetime
) -> tuple[list[Json], list[str]]:
    """(exception instances, UTC starts of cancelled occurrences) of a series master, from
    its instances over `series_window`."""
    recurrence = rec.from_graph(master.get("recurrence"))
    first = parse_date_time(master.get("start"))
    if recurrence is None or first is None:
        return [], []
    zone = zone_info(iana_zone(master.get("originalStartTimeZone")))
    present = {
        utc_iso(parse_offset(i.get("originalStart")) or parse_date_time(i.get("start")))
        for i in instances
    }
    expected = expected_starts(recurrence, first.astimezone(zone), window_end)
    deleted = [s for s in (utc_iso(e) for e in expected) if s is not None and s not in present]
    return [i for i in instances if i.get("type") == "exception"], deleted
