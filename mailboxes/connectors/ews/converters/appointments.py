"""Exchange calendar items ⇄ canonical appointments (`mailboxes/itemtypes/appointments.py`).

Times are read in UTC and written in the appointment's time zone (so Exchange keeps the
zone it was scheduled in); all-day events as their first and last day. A recurring series
keeps exchangelib's pattern and boundary (`recurrence.py`); its modified occurrences carry
their own subject, location, description and busy status when `item_canonical` is given
them (a GetItem of the occurrences, `occurrences.py`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from exchangelib import Attendee, CalendarItem, EWSDate, EWSDateTime
from exchangelib.items import Item
from exchangelib.properties import Mailbox as EwsMailbox

from activities.models import ActivityParty
from mailboxes.connectors.base import Canonical
from mailboxes.connectors.choices import EWS_BUSY, EWS_RESPONSE
from mailboxes.connectors.ews.converters.common import ews_datetime, ews_timezone, tz_name_of
from mailboxes.connectors.ews.converters.recurrence import recurrence_from_json, recurrence_to_json
from mailboxes.itemtypes.appointments import party, sorted_parties
from mailboxes.itemtypes.common import body_text, categories, parse_date, parse_utc, utc_iso

BUSY, RESPONSE = EWS_BUSY, EWS_RESPONSE
# exchangelib's attendee fields ⇄ the parties' roles.
ATTENDEE_FIELDS = {
    "required_attendees": ActivityParty.Role.REQUIRED_ATTENDEE,
    "optional_attendees": ActivityParty.Role.OPTIONAL_ATTENDEE,
    "resources": ActivityParty.Role.RESOURCE,
}


def exception_fields(occurrence: Any, series: Any) -> dict[str, str]:
    """Subject, location, description and busy status of an Exchange occurrence, in
    canonical form; those of `series` (its master) where the occurrence is not at hand."""
    source = occurrence if occurrence is not None else series
    return {
        "subject": source.subject or "",
        "location": source.location or "",
        "description": body_text(source.body),
        "busy_status": BUSY.crm(source.legacy_free_busy_status),
    }


class AppointmentConverter:
    ews_class: ClassVar[type[Item]] = CalendarItem
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
    # What we read: what we write, plus what Exchange keeps of the meeting and the series,
    # and the bookkeeping of the item.
    ews_fields: ClassVar[tuple[str, ...]] = (
        *update_fields,
        "uid",
        "organizer",
        "modified_occurrences",
        "deleted_occurrences",
        "type",
        "is_cancelled",
        "meeting_request_was_sent",
        "last_modified_time",
        "item_class",
        "_start_timezone",
        "_end_timezone",
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
        for field_name, role in ATTENDEE_FIELDS.items():
            for attendee in getattr(item, field_name) or []:
                mailbox = attendee.mailbox
                if mailbox is None or not mailbox.email_address:
                    continue
                parties.append(
                    party(
                        mailbox.email_address,
                        mailbox.name or "",
                        role,
                        RESPONSE.crm(attendee.response_type),
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
            "busy_status": BUSY.crm(item.legacy_free_busy_status),
            "reminder_minutes": item.reminder_minutes_before_start
            if item.reminder_is_set
            else None,
            "categories": categories(item.categories),
            "organizer": organizer,
            "attendees": sorted_parties(parties),
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

    def build_item(self, canonical: Canonical, *, folder: Any) -> CalendarItem:
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
        attendees: dict[str, list[Attendee]] = {name: [] for name in ATTENDEE_FIELDS}
        roles = {role: name for name, role in ATTENDEE_FIELDS.items()}
        for attendee in canonical["attendees"]:
            attendees[roles[attendee["role"]]].append(
                Attendee(
                    mailbox=EwsMailbox(
                        email_address=attendee["address"], name=attendee["name"] or None
                    ),
                    response_type=RESPONSE.name(attendee["response"]),
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
            legacy_free_busy_status=BUSY.name(canonical["busy_status"]),
            reminder_is_set=reminder is not None,
            reminder_minutes_before_start=reminder if reminder is not None else 0,
            categories=canonical["categories"] or None,
            required_attendees=attendees["required_attendees"] or None,
            optional_attendees=attendees["optional_attendees"] or None,
            resources=attendees["resources"] or None,
            recurrence=recurrence_from_json(canonical["recurrence"]),
        )
        item._start_timezone = tz
        item._end_timezone = tz
        return item
