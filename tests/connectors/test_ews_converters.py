"""The EWS item side of each type: a canonical form written into an exchangelib item reads
back as the same canonical form (no server: the converters alone), and Windows time-zone
names map as exchangelib maps them."""

from __future__ import annotations

import datetime as dt

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from activities.models import ActivityParty, Appointment, Contact, Task
from mailboxes.connectors import timezones
from mailboxes.connectors.ews.converters import CONVERTERS
from mailboxes.itemtypes import TYPES
from mailboxes.models import ItemType


def _round_trip(item_type: str, canonical: dict[str, object], **item_fields: object) -> dict:
    converter = CONVERTERS[item_type]
    item = converter.build_item(canonical, folder=None)
    for name, value in item_fields.items():
        setattr(item, name, value)
    return converter.item_canonical(item)


def test_a_task_reads_back_as_written() -> None:
    task = Task(
        subject="Send offer",
        description="Two lines\nof text",
        start_date=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        due_date=dt.datetime(2026, 5, 4, tzinfo=dt.UTC),
        status=Task.Status.COMPLETED,
        completed_at=dt.datetime(2026, 5, 3, 9, 30, tzinfo=dt.UTC),
        priority=Task.Priority.HIGH,
        categories=["Sales", "Blue"],
    )
    canonical = TYPES[ItemType.TASK].record_canonical(task)

    assert canonical["percent_complete"] == 100  # Exchange's rule for a completed task
    assert _round_trip(ItemType.TASK, canonical) == canonical


def test_a_contact_reads_back_as_written_with_its_labels() -> None:
    contact = Contact(
        first_name="Ann",
        last_name="Lee",
        display_name="Ann Lee",
        company_name="Acme",
        email_address1="Ann@Example.com",
        email_address3="ann.lee@example.org",
        phone_numbers={"business": "+49 30 1234", "mobile": "+49 170 5555", "car": "+1 555"},
        addresses={"home": {"street": "Main St 1", "city": "Berlin", "postal_code": "10115"}},
        birthday=dt.date(1980, 2, 29),
    )
    canonical = TYPES[ItemType.CONTACT].record_canonical(contact)

    assert canonical["emails"] == ["ann@example.com", "", "ann.lee@example.org"]
    assert _round_trip(ItemType.CONTACT, canonical) == canonical


def test_a_meeting_series_reads_back_with_its_zone_attendees_and_pattern() -> None:
    meeting = Appointment(
        subject="Weekly",
        location="Room 1",
        start=dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC),
        end=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC),
        time_zone="Europe/Berlin",
        busy_status=Appointment.BusyStatus.TENTATIVE,
        reminder_minutes=10,
        recurrence={
            "pattern": {
                "type": "WeeklyPattern",
                "interval": 1,
                "weekdays": [1],
                "first_day_of_week": 1,
            },
            "boundary": {"type": "NumberedPattern", "start": "2026-03-02", "number": 5},
        },
    )
    parties = [
        ActivityParty(
            role=ActivityParty.Role.REQUIRED_ATTENDEE,
            address="bob@example.com",
            display_name="Bob",
            response=ActivityParty.Response.ACCEPTED,
        ),
        ActivityParty(
            role=ActivityParty.Role.OPTIONAL_ATTENDEE,
            address="eve@example.com",
            display_name="",
            response="none",
        ),
    ]
    canonical = TYPES[ItemType.APPOINTMENT].record_canonical(
        meeting, parties=parties, exceptions=[]
    )

    read = _round_trip(ItemType.APPOINTMENT, canonical, type="RecurringMaster")

    assert read == canonical
    assert read["time_zone"] == "Europe/Berlin"
    assert {p["address"] for p in read["attendees"]} == {"bob@example.com", "eve@example.com"}


def test_windows_zone_names_map_as_exchangelib_maps_them() -> None:
    for iana, (windows, _territory) in IANA_TO_MS_TIMEZONE_MAP.items():
        assert timezones.windows_name(iana) == windows
    for windows, iana in MS_TIMEZONE_TO_IANA_MAP.items():
        assert timezones.iana_name(windows) == iana
    assert timezones.canonical_tz("Europe/Amsterdam") == "Europe/Berlin"
    assert timezones.canonical_tz("Etc/UTC") == "UTC"
    assert timezones.canonical_tz("") == ""
    assert timezones.canonical_tz("Mars/Olympus") == "Mars/Olympus"
