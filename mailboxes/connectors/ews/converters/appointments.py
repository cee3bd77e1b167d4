"""Exchange calendar items ⇄ CRM appointments.

Times are compared in UTC and written in the appointment's time zone (so Exchange keeps the
zone it was scheduled in); all-day events as their first and last day. Attendees and the
organizer become activity parties, resolved to users and contacts by the engine. A
recurring series keeps its pattern and range in `recurrence` (exchangelib's pattern and
boundary class names and fields) and its modified and deleted occurrences as child
appointments (`series_master`, `original_start`, `is_cancelled`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from django.db.models import Q
from exchangelib import Attendee, CalendarItem, EWSDate, EWSDateTime
from exchangelib.items import Item
from exchangelib.properties import Mailbox as EwsMailbox

from activities.models import ActivityParty, Appointment, ChangeOrigin
from mailboxes.connectors.ews.converters.common import (
    Canonical,
    TypePolicy,
    body_text,
    canonical_tz,
    categories,
    date_iso,
    ews_datetime,
    ews_timezone,
    midnight_utc,
    normalise_text,
    parse_date,
    parse_utc,
    tz_name_of,
    utc_iso,
)
from mailboxes.connectors.ews.converters.recurrence import recurrence_from_json, recurrence_to_json
from mailboxes.models import ItemType, ItemTypeSyncOptions, Mailbox

BUSY_FROM_EWS = {
    "Free": Appointment.BusyStatus.FREE,
    "Tentative": Appointment.BusyStatus.TENTATIVE,
    "Busy": Appointment.BusyStatus.BUSY,
    "OOF": Appointment.BusyStatus.OUT_OF_OFFICE,
    "WorkingElsewhere": Appointment.BusyStatus.WORKING_ELSEWHERE,
}
BUSY_TO_EWS = {v: k for k, v in BUSY_FROM_EWS.items()}
RESPONSE_FROM_EWS = {
    "Organizer": ActivityParty.Response.ORGANIZER,
    "Tentative": ActivityParty.Response.TENTATIVE,
    "Accept": ActivityParty.Response.ACCEPTED,
    "Decline": ActivityParty.Response.DECLINED,
}
RESPONSE_TO_EWS = {v: k for k, v in RESPONSE_FROM_EWS.items()}
ATTENDEE_ROLES = {
    "required_attendees": ActivityParty.Role.REQUIRED_ATTENDEE,
    "optional_attendees": ActivityParty.Role.OPTIONAL_ATTENDEE,
    "resources": ActivityParty.Role.RESOURCE,
}


def _zone(tz_name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(tz_name) if tz_name else dt.UTC
    except (KeyError, ValueError):
        return dt.UTC


def _local_date(value: dt.datetime, tz_name: str) -> dt.date:
    return value.astimezone(_zone(tz_name)).date()


def _party(address: str, name: str, role: str, response: str) -> dict[str, str]:
    return {
        "address": address.strip().lower(),
        "name": name or "",
        "role": role,
        "response": response,
    }


def exception_fields(occurrence: Any, series: Any) -> dict[str, str]:
    """Subject, location, description and busy status of an Exchange occurrence, in
    canonical form; those of `series` (its master) where the occurrence is not at hand."""
    source = occurrence if occurrence is not None else series
    return {
        "subject": source.subject or "",
        "location": source.location or "",
        "description": body_text(source.body),
        "busy_status": BUSY_FROM_EWS.get(
            source.legacy_free_busy_status or "Busy", Appointment.BusyStatus.BUSY
        ),
    }


def _sorted_parties(parties: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(parties, key=lambda p: (p["role"], p["address"], p["name"]))


class AppointmentConverter(TypePolicy):
    has_series: ClassVar[bool] = True
    has_parties: ClassVar[bool] = True
    keeps_ical_uid: ClassVar[bool] = True

    item_type: ClassVar[str] = ItemType.APPOINTMENT
    model: ClassVar[type[Appointment]] = Appointment
    distinguished_folder: ClassVar[str] = "calendar"
    ews_class: ClassVar[type[Item]] = CalendarItem
    ews_fields: ClassVar[tuple[str, ...]] = (
        "subject",
        "body",
        "location",
        "start",
        "end",
        "is_all_day",
        "legacy_free_busy_status",
        "reminder_is_set",
        "reminder_minutes_before_start",
        "categories",
        "uid",
        "organizer",
        "required_attendees",
        "optional_attendees",
        "resources",
        "recurrence",
        "modified_occurrences",
        "deleted_occurrences",
        "type",
        "is_cancelled",
        "last_modified_time",
        "item_class",
        "_start_timezone",
        "_end_timezone",
    )
    update_fields: ClassVar[tuple[str, ...]] = (
        "subject",
        "body",
        "location",
        "start",
        "end",
        "is_all_day",
        "legacy_free_busy_status",
        "reminder_is_set",
        "reminder_minutes_before_start",
        "categories",
        "required_attendees",
        "optional_attendees",
        "resources",
        "recurrence",
    )
    record_fields: ClassVar[tuple[str, ...]] = (
        "subject",
        "description",
        "location",
        "start",
        "end",
        "is_all_day",
        "time_zone",
        "busy_status",
        "reminder_minutes",
        "categories",
        "recurrence",
        "is_cancelled",
        "ical_uid",
    )

    def item_canonical(self, item: Any, occurrences: dict[str, Any] | None = None) -> Canonical:
        """The item's canonical form; `occurrences` ({occurrence id: occurrence item}) gives
        its modified occurrences their own subject, location, description and busy status,
        else they carry the series' ones."""
        tz_name = tz_name_of(getattr(item, "_start_timezone", None))
        details = occurrences or {}
        if item.is_all_day:
            start = item.start.isoformat() if item.start is not None else None
            end = item.end.isoformat() if item.end is not None else None
        else:
            start, end = utc_iso(item.start), utc_iso(item.end)
        parties: list[dict[str, str]] = []
        for field_name, role in ATTENDEE_ROLES.items():
            for attendee in getattr(item, field_name) or []:
                mailbox = attendee.mailbox
                if mailbox is None or not mailbox.email_address:
                    continue
                parties.append(
                    _party(
                        mailbox.email_address,
                        mailbox.name or "",
                        role,
                        RESPONSE_FROM_EWS.get(attendee.response_type or "", "none"),
                    )
                )
        organizer = None
        if item.organizer is not None and item.organizer.email_address:
            organizer = {
                "address": item.organizer.email_address.strip().lower(),
                "name": item.organizer.name or "",
            }
        return {
            "subject": item.subject or "",
            "description": body_text(item.body),
            "location": item.location or "",
            "start": start,
            "end": end,
            "is_all_day": bool(item.is_all_day),
            "time_zone": tz_name,
            "busy_status": BUSY_FROM_EWS.get(
                item.legacy_free_busy_status or "Busy", Appointment.BusyStatus.BUSY
            ),
            "reminder_minutes": item.reminder_minutes_before_start
            if item.reminder_is_set
            else None,
            "categories": categories(item.categories),
            "organizer": organizer,
            "attendees": _sorted_parties(parties),
            "recurrence": recurrence_to_json(item.recurrence)
            if item.type == "RecurringMaster"
            else None,
            "deleted_occurrences": sorted(
                utc_iso(o.start) or "" for o in item.deleted_occurrences or []
            ),
            "modified_occurrences": sorted(
                (
                    {
                        "original_start": utc_iso(o.original_start),
                        "start": utc_iso(o.start),
                        "end": utc_iso(o.end),
                        **exception_fields(details.get(o.id), item),
                    }
                    for o in item.modified_occurrences or []
                ),
                key=lambda o: o["original_start"] or "",
            ),
            "is_cancelled": bool(item.is_cancelled),
        }

    def record_canonical(
        self,
        record: Appointment,
        *,
        parties: Sequence[ActivityParty] | None = None,
        exceptions: Sequence[Appointment] | None = None,
    ) -> Canonical:
        """The record's canonical form; `parties` and `exceptions` when the caller has them
        at hand (just written), else they are read from the record's relations."""
        tz_name = canonical_tz(record.time_zone)
        start: str | None
        end: str | None
        if record.is_all_day:
            first = _local_date(record.start, record.time_zone)
            last = _local_date(record.end - dt.timedelta(days=1), record.time_zone)
            start, end = first.isoformat(), max(first, last).isoformat()
        else:
            start, end = utc_iso(record.start), utc_iso(record.end)
        if parties is None:
            parties = list(record.parties.all())
        organizer = next(
            (
                {"address": p.address.strip().lower(), "name": p.display_name}
                for p in parties
                if p.role == ActivityParty.Role.ORGANIZER and p.address
            ),
            None,
        )
        attendees = [
            _party(p.address, p.display_name, p.role, p.response)
            for p in parties
            if p.role in ATTENDEE_ROLES.values() and p.address
        ]
        if not record.recurrence:
            exceptions = []
        elif exceptions is None:
            exceptions = list(record.exceptions.all())
        return {
            "subject": record.subject,
            "description": normalise_text(record.description),
            "location": record.location,
            "start": start,
            "end": end,
            "is_all_day": record.is_all_day,
            "time_zone": tz_name,
            "busy_status": record.busy_status,
            "reminder_minutes": record.reminder_minutes,
            "categories": categories(record.categories),
            "organizer": organizer,
            "attendees": _sorted_parties(attendees),
            "recurrence": record.recurrence or None,
            "deleted_occurrences": sorted(
                utc_iso(e.original_start) or "" for e in exceptions if e.is_cancelled
            ),
            "modified_occurrences": sorted(
                (
                    {
                        "original_start": utc_iso(e.original_start),
                        "start": utc_iso(e.start),
                        "end": utc_iso(e.end),
                        "subject": e.subject,
                        "location": e.location,
                        "description": normalise_text(e.description),
                        "busy_status": e.busy_status,
                    }
                    for e in exceptions
                    if not e.is_cancelled
                ),
                key=lambda o: o["original_start"] or "",
            ),
            "is_cancelled": record.is_cancelled,
        }

    def apply(self, record: Appointment, canonical: Canonical, mailbox: Mailbox) -> None:
        """Set the record's own fields; parties and occurrences are the engine's job."""
        record.subject = canonical["subject"][:500]
        record.description = canonical["description"]
        record.location = canonical["location"][:500]
        record.is_all_day = canonical["is_all_day"]
        tz_name = canonical["time_zone"]
        if canonical_tz(record.time_zone) != tz_name:
            record.time_zone = tz_name
        if record.is_all_day:
            zone = _zone(record.time_zone)
            first = parse_date(canonical["start"])
            last = parse_date(canonical["end"]) or first
            assert first is not None and last is not None
            record.start = dt.datetime.combine(first, dt.time(0, 0), tzinfo=zone)
            record.end = dt.datetime.combine(
                last + dt.timedelta(days=1), dt.time(0, 0), tzinfo=zone
            )
        else:
            start = parse_utc(canonical["start"])
            end = parse_utc(canonical["end"])
            assert start is not None
            record.start = start
            record.end = max(end or start, start)
        record.busy_status = canonical["busy_status"]
        record.reminder_minutes = canonical["reminder_minutes"]
        record.categories = list(canonical["categories"])
        record.recurrence = canonical["recurrence"]
        record.is_cancelled = canonical["is_cancelled"]
        record.change_origin = ChangeOrigin.SYNC
        record.change_origin_mailbox = mailbox

    def parties(self, canonical: Canonical) -> list[dict[str, str]]:
        """The activity parties the canonical form describes: organizer first."""
        result = []
        if canonical["organizer"]:
            result.append(
                _party(
                    canonical["organizer"]["address"],
                    canonical["organizer"]["name"],
                    ActivityParty.Role.ORGANIZER,
                    ActivityParty.Response.ORGANIZER,
                )
            )
        result.extend(canonical["attendees"])
        return result

    def build_item(
        self, canonical: Canonical, *, stamp_categories: Sequence[str], folder: Any
    ) -> CalendarItem:
        tz_name = canonical["time_zone"]
        tz = ews_timezone(tz_name)
        start: EWSDate | EWSDateTime
        end: EWSDate | EWSDateTime
        if canonical["is_all_day"]:
            first = parse_date(canonical["start"])
            last = parse_date(canonical["end"]) or first
            assert first is not None and last is not None
            start = EWSDate(first.year, first.month, first.day)
            end = EWSDate(last.year, last.month, last.day)
        else:
            start_utc = parse_utc(canonical["start"])
            end_utc = parse_utc(canonical["end"])
            assert start_utc is not None and end_utc is not None
            start = ews_datetime(start_utc, tz_name)
            end = ews_datetime(end_utc, tz_name)
        attendees: dict[str, list[Attendee]] = {name: [] for name in ATTENDEE_ROLES}
        roles = {role: name for name, role in ATTENDEE_ROLES.items()}
        for party in canonical["attendees"]:
            attendees[roles[party["role"]]].append(
                Attendee(
                    mailbox=EwsMailbox(email_address=party["address"], name=party["name"] or None),
                    response_type=RESPONSE_TO_EWS.get(party["response"], "Unknown"),
                )
            )
        reminder = canonical["reminder_minutes"]
        item = CalendarItem(
            folder=folder,
            subject=canonical["subject"],
            body=canonical["description"] or None,
            location=canonical["location"] or None,
            start=start,
            end=end,
            is_all_day=canonical["is_all_day"],
            legacy_free_busy_status=BUSY_TO_EWS.get(canonical["busy_status"], "Busy"),
            reminder_is_set=reminder is not None,
            reminder_minutes_before_start=reminder if reminder is not None else 0,
            categories=categories([*canonical["categories"], *stamp_categories]) or None,
            required_attendees=attendees["required_attendees"] or None,
            optional_attendees=attendees["optional_attendees"] or None,
            resources=attendees["resources"] or None,
            recurrence=recurrence_from_json(canonical["recurrence"]),
        )
        item._start_timezone = tz
        item._end_timezone = tz
        return item

    def adopt_ical_uid(self, record: Appointment, item: Any) -> None:
        record.ical_uid = (item.uid or "")[:512]

    def imports(self, canonical: Canonical, options: ItemTypeSyncOptions) -> bool:
        """Appointments that ended before the mailbox's "sync from" date are not imported."""
        if options.sync_from is None or canonical.get("recurrence"):
            return True
        end = canonical["end"] or canonical["start"]
        return not (bool(end) and (date_iso(options.sync_from) or "") > str(end)[:10])

    def exports(self, record: Appointment, options: ItemTypeSyncOptions) -> bool:
        """Nor are those written to Exchange (a series always is)."""
        if options.sync_from is None or record.recurrence:
            return True
        return (date_iso(record.end) or "") >= (date_iso(options.sync_from) or "")

    def candidates_q(self, items: Sequence[Any], canonicals: dict[str, Canonical]) -> Q:
        """Unmapped appointments with one of these iCalUIds or starting about the same day."""
        uids = [i.uid for i in items if getattr(i, "uid", None)]
        days = [d for d in (parse_date(canonicals[i.id]["start"]) for i in items) if d]
        query = Q(ical_uid__in=uids) if uids else Q(pk__in=[])
        if days:
            # A range on the column itself, so the (owner, start) index serves it.
            query |= Q(start__gte=midnight_utc(min(days) - dt.timedelta(days=1))) & Q(
                start__lt=midnight_utc(max(days) + dt.timedelta(days=2))
            )
        return query

    def identity(self, canonical: Canonical) -> str:
        return f"{canonical['subject'].strip().lower()}|{canonical['start']}|{canonical['end']}"
