"""CRM appointments: times, time zone, busy status, reminder, attendees, recurring series.

Times are compared in UTC and kept in the appointment's time zone; all-day events as their
first and last day. The organizer and attendees are activity parties, resolved to users and
contacts by the engine. A recurring series keeps its pattern and range in `recurrence`
(`{"pattern": {"type": ...}, "boundary": {...}}`, named as EWS names them; each connector
maps its own) and its modified and deleted occurrences as child appointments
(`series_master`, `original_start`, `is_cancelled`), listed in the canonical form as
`modified_occurrences` (each with its own times, subject, location, description and busy
status) and `deleted_occurrences` (original starts).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from activities.models import ActivityParty, Appointment, ChangeOrigin
from mailboxes.connectors.base import Canonical, RemoteItem
from mailboxes.itemtypes.common import (
    TypePolicy,
    canonical_tz,
    categories,
    date_iso,
    midnight_utc,
    normalise_text,
    parse_date,
    parse_utc,
    utc_iso,
)
from mailboxes.models import ItemType

if TYPE_CHECKING:
    from mailboxes.models import ItemTypeSyncOptions, Mailbox

# The parties that are attendees (the organizer is kept apart).
ATTENDEE_ROLES = (
    ActivityParty.Role.REQUIRED_ATTENDEE,
    ActivityParty.Role.OPTIONAL_ATTENDEE,
    ActivityParty.Role.RESOURCE,
)


def zone(tz_name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(tz_name) if tz_name else dt.UTC
    except (KeyError, ValueError):
        return dt.UTC


def _local_date(value: dt.datetime, tz_name: str) -> dt.date:
    return value.astimezone(zone(tz_name)).date()


def party(address: str, name: str, role: str, response: str) -> dict[str, str]:
    """A party in canonical form."""
    return {
        "address": address.strip().lower(),
        "name": name or "",
        "role": role,
        "response": response,
    }


def sorted_parties(parties: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(parties, key=lambda p: (p["role"], p["address"], p["name"]))


class AppointmentType(TypePolicy[Appointment]):
    has_series: ClassVar[bool] = True
    has_parties: ClassVar[bool] = True
    keeps_ical_uid: ClassVar[bool] = True
    export_reads: ClassVar[tuple[str, ...]] = ("recurrence", "end")

    item_type: ClassVar[str] = ItemType.APPOINTMENT
    model = Appointment
    default_folder: ClassVar[str] = "calendar"
    record_fields: ClassVar[tuple[str, ...]] = Appointment.CONTENT_FIELDS

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
            party(p.address, p.display_name, p.role, p.response)
            for p in parties
            if p.role in ATTENDEE_ROLES and p.address
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
            "attendees": sorted_parties(attendees),
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
            local = zone(record.time_zone)
            first = parse_date(canonical["start"])
            last = parse_date(canonical["end"]) or first
            assert first is not None and last is not None
            record.start = dt.datetime.combine(first, dt.time(0, 0), tzinfo=local)
            record.end = dt.datetime.combine(
                last + dt.timedelta(days=1), dt.time(0, 0), tzinfo=local
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
                party(
                    canonical["organizer"]["address"],
                    canonical["organizer"]["name"],
                    ActivityParty.Role.ORGANIZER,
                    ActivityParty.Response.ORGANIZER,
                )
            )
        result.extend(canonical["attendees"])
        return result

    def adopt_ical_uid(self, record: Appointment, ical_uid: str) -> None:
        record.ical_uid = ical_uid[:512]

    def ical_uid_of(self, record: Appointment) -> str:
        return record.ical_uid

    def ensure_ical_uid(self, record: Appointment) -> str:
        if not record.ical_uid:
            record.ical_uid = f"crmsync-{uuid.uuid4()}"
            Appointment.objects.filter(pk=record.pk).update(ical_uid=record.ical_uid)
        return record.ical_uid

    def own_records(self, records: QuerySet[Appointment]) -> QuerySet[Appointment]:
        """Series masters and single appointments, with their parties and exceptions."""
        return records.filter(series_master__isnull=True).prefetch_related("parties", "exceptions")

    def masters_of_changed_children(self, children: Q) -> QuerySet[Any]:
        return Appointment.objects.filter(children, series_master__isnull=False).values(
            "series_master_id"
        )

    def children(
        self,
        master: Appointment,
        canonical: Canonical,
        *,
        owner: dict[str, int | None],
        mailbox: Mailbox,
    ) -> list[Appointment]:
        """A child appointment per modified occurrence (its own subject, times, location,
        description, busy status) and per deleted one (`is_cancelled`)."""
        if not canonical.get("recurrence"):
            return []
        children: list[Appointment] = []
        for occurrence in canonical["modified_occurrences"]:
            start = parse_utc(occurrence["start"])
            end = parse_utc(occurrence["end"])
            if start is None:
                continue
            children.append(
                Appointment(
                    **owner,
                    subject=(occurrence.get("subject") or master.subject)[:500],
                    location=occurrence.get("location", master.location)[:500],
                    description=occurrence.get("description", master.description),
                    busy_status=occurrence.get("busy_status", master.busy_status),
                    start=start,
                    end=max(end or start, start),
                    time_zone=master.time_zone,
                    is_all_day=master.is_all_day,
                    series_master_id=master.pk,
                    original_start=parse_utc(occurrence["original_start"]),
                    change_origin=ChangeOrigin.SYNC,
                    change_origin_mailbox=mailbox,
                )
            )
        for original in canonical["deleted_occurrences"]:
            when = parse_utc(original)
            if when is None:
                continue
            children.append(
                Appointment(
                    **owner,
                    subject=master.subject,
                    start=when,
                    end=when,
                    time_zone=master.time_zone,
                    series_master_id=master.pk,
                    original_start=when,
                    is_cancelled=True,
                    change_origin=ChangeOrigin.SYNC,
                    change_origin_mailbox=mailbox,
                )
            )
        return children

    def delete_children(self, master_ids: Sequence[int]) -> None:
        Appointment.objects.filter(series_master_id__in=master_ids).delete()

    def invitees(self, canonical: Canonical, own_address: str) -> set[str]:
        organizer = canonical["organizer"]
        if organizer is not None and organizer["address"] != own_address.strip().lower():
            return set()
        return {p["address"] for p in canonical["attendees"] if p["address"]}

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

    def candidates_q(self, items: Sequence[RemoteItem]) -> Q:
        """Unmapped appointments with one of these iCalUIds or starting about the same day."""
        uids = [i.ical_uid for i in items if i.ical_uid]
        days = [d for d in (parse_date(i.canonical["start"]) for i in items) if d]
        query = Q(ical_uid__in=uids) if uids else Q(pk__in=[])
        if days:
            # A range on the column itself, so the (owner, start) index serves it.
            query |= Q(start__gte=midnight_utc(min(days) - dt.timedelta(days=1))) & Q(
                start__lt=midnight_utc(max(days) + dt.timedelta(days=2))
            )
        return query

    def identity(self, canonical: Canonical) -> str:
        return f"{canonical['subject'].strip().lower()}|{canonical['start']}|{canonical['end']}"
