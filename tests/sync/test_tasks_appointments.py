"""Tasks and appointments both ways against the emulator."""

import datetime as dt

import pytest

from activities.models import ActivityParty, Appointment, Task
from mailboxes.models import ExchangeSyncIdMapping
from tests.factories import make_appointment, make_contact, make_task
from tests.sync.helpers import emulated_mailbox, sync
from tests.waiting import settled

pytestmark = pytest.mark.django_db


def test_an_exchange_task_arrives_with_dates_status_priority_and_percent(ews) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.create_item(
        mailbox.email_address,
        "task",
        {
            "Subject": "Ship the release",
            "Body": "Tag and upload",
            "Importance": "High",
            "StartDate": "2030-03-01T00:00:00Z",
            "DueDate": "2030-03-05T00:00:00Z",
            "PercentComplete": "40",
            "Status": "InProgress",
            "Categories": ["Work"],
        },
    )

    sync(mailbox)

    task = Task.objects.get(owner_user=mailbox.user)
    assert task.subject == "Ship the release"
    assert task.description == "Tag and upload"
    assert task.priority == Task.Priority.HIGH
    assert task.status == Task.Status.IN_PROGRESS
    assert task.percent_complete == 40
    assert task.start_date is not None and task.start_date.date() == dt.date(2030, 3, 1)
    assert task.due_date is not None and task.due_date.date() == dt.date(2030, 3, 5)
    assert task.categories == ["Work"]


def test_a_crm_task_reaches_exchange_and_a_change_in_exchange_comes_back(ews) -> None:
    mailbox = emulated_mailbox(ews)
    make_task(
        owner_user=mailbox.user,
        subject="Call the bank",
        description="About the loan",
        due_date=dt.datetime(2030, 4, 2, tzinfo=dt.UTC),
        status=Task.Status.WAITING,
        priority=Task.Priority.LOW,
        percent_complete=10,
    )
    sync(mailbox)
    (summary,) = ews.control.items(mailbox.email_address, "tasks")
    xml = ews.control.item(summary["id"])["xml"]
    for text in ("Call the bank", "About the loan", "WaitingOnOthers", "Low", "2030-04-02"):
        assert text in xml

    ews.control.update_item(summary["id"], {"Status": "Completed", "PercentComplete": "100"})
    sync(mailbox)

    task = Task.objects.get(owner_user=mailbox.user)
    assert task.status == Task.Status.COMPLETED
    assert task.percent_complete == 100


def test_an_exchange_meeting_arrives_with_attendees_resolved_organizer_and_time_zone(ews) -> None:
    mailbox = emulated_mailbox(ews)
    contact = make_contact(owner_user=mailbox.user, email_address1="bob@partner.example")
    ews.control.create_item(
        mailbox.email_address,
        "calendar",
        {
            "Subject": "Quarterly review",
            "Body": "Numbers",
            "Start": "2030-05-06T08:00:00Z",
            "End": "2030-05-06T09:30:00Z",
            "Location": "Room 4",
            "LegacyFreeBusyStatus": "Tentative",
            "RequiredAttendees": [
                {"email": "bob@partner.example", "name": "Bob", "response": "Accept"}
            ],
            "OptionalAttendees": [{"email": "carol@else.example", "name": "Carol"}],
            "xml": (
                '<t:StartTimeZone Id="W. Europe Standard Time"/>'
                '<t:EndTimeZone Id="W. Europe Standard Time"/>'
            ),
        },
    )

    sync(mailbox)

    appointment = Appointment.objects.get(owner_user=mailbox.user)
    assert appointment.subject == "Quarterly review"
    assert appointment.start == dt.datetime(2030, 5, 6, 8, 0, tzinfo=dt.UTC)
    assert appointment.end == dt.datetime(2030, 5, 6, 9, 30, tzinfo=dt.UTC)
    assert appointment.location == "Room 4"
    assert appointment.busy_status == Appointment.BusyStatus.TENTATIVE
    assert appointment.time_zone == "Europe/Berlin"
    parties = {p.address: p for p in appointment.parties.all()}
    assert parties["bob@partner.example"].contact == contact
    assert parties["bob@partner.example"].role == ActivityParty.Role.REQUIRED_ATTENDEE
    assert parties["bob@partner.example"].response == ActivityParty.Response.ACCEPTED
    assert parties["carol@else.example"].role == ActivityParty.Role.OPTIONAL_ATTENDEE
    assert parties["carol@else.example"].contact is None
    organizer = [p for p in parties.values() if p.role == ActivityParty.Role.ORGANIZER]
    assert [p.address for p in organizer] == [mailbox.email_address.lower()]
    assert organizer[0].user == mailbox.user


def test_a_crm_appointment_reaches_exchange_without_invitations_and_round_trips(ews) -> None:
    mailbox = emulated_mailbox(ews)
    attendee = emulated_mailbox(ews)
    appointment = make_appointment(
        owner_user=mailbox.user,
        subject="Kick-off",
        description="Agenda",
        location="HQ",
        start=dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC),
        end=dt.datetime(2030, 6, 1, 13, 0, tzinfo=dt.UTC),
        time_zone="America/New_York",
        reminder_minutes=15,
    )
    ActivityParty.objects.create(
        appointment=appointment,
        role=ActivityParty.Role.REQUIRED_ATTENDEE,
        address=attendee.email_address,
    )

    sync(mailbox)

    (summary,) = ews.control.items(mailbox.email_address, "calendar")
    xml = ews.control.item(summary["id"])["xml"]
    for text in ("Kick-off", "Agenda", "HQ", attendee.email_address, "Eastern Standard Time"):
        assert text in xml
    settled(ews.control)
    assert ews.control.items(attendee.email_address, "inbox") == []  # first sync invites nobody
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox)
    assert mapping.ical_uid

    # a second cycle changes nothing on either side
    before = Appointment.objects.get(pk=appointment.pk).modified_at
    again = sync(mailbox)
    assert again.items_processed == 0
    assert Appointment.objects.get(pk=appointment.pk).modified_at == before


def test_an_all_day_event_keeps_its_days_both_ways(ews) -> None:
    mailbox = emulated_mailbox(ews)
    make_appointment(
        owner_user=mailbox.user,
        subject="Offsite",
        is_all_day=True,
        start=dt.datetime(2030, 7, 1, tzinfo=dt.UTC),
        end=dt.datetime(2030, 7, 3, tzinfo=dt.UTC),
    )
    sync(mailbox)
    (summary,) = ews.control.items(mailbox.email_address, "calendar")
    xml = ews.control.item(summary["id"])["xml"]
    assert "<t:IsAllDayEvent>true</t:IsAllDayEvent>" in xml
    assert "2030-07-01T00:00:00" in xml
    assert "2030-07-03T00:00:00" in xml


def test_a_recurring_series_arrives_with_its_modified_and_deleted_occurrences(ews) -> None:
    mailbox = emulated_mailbox(ews)
    created = ews.control.create_item(
        mailbox.email_address,
        "calendar",
        {
            "Subject": "Standup",
            "Start": "2030-01-07T09:00:00Z",
            "End": "2030-01-07T09:15:00Z",
            "xml": (
                "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
                "<t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>"
                "<t:NumberedRecurrence><t:StartDate>2030-01-07</t:StartDate>"
                "<t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>"
            ),
        },
    )
    sync(mailbox)
    master = Appointment.objects.get(owner_user=mailbox.user, series_master=None)
    assert master.recurrence is not None
    assert master.recurrence["pattern"]["type"] == "WeeklyPattern"
    assert master.recurrence["boundary"] == {
        "type": "NumberedPattern",
        "start": "2030-01-07",
        "number": 5,
    }
    assert created["id"]
