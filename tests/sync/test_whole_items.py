"""Items made in "Outlook" (exchangelib over EWS) reach the CRM whole: SyncFolderItems,
like FindItem, returns no bodies, attendees or recurrence (EWS reference, "SyncFolderItems
operation"), so the engine fetches what it maps with GetItem after each page."""

import datetime as dt
from typing import Any

import pytest
import requests
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.indexed_properties import EmailAddress, PhoneNumber
from exchangelib.items import SEND_TO_NONE
from exchangelib.items import Contact as EwsContact
from exchangelib.items import Task as EwsTask
from exchangelib.recurrence import Recurrence, WeeklyPattern

from activities.models import ActivityParty, Appointment, Contact, Task
from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.ews import account_for
from mailboxes.models import ExchangeSyncIdMapping
from tests.sync.helpers import emulated_mailbox, sync

pytestmark = pytest.mark.django_db

UTC = EWSTimeZone("UTC")
# Longer than what FindItem and SyncFolderItems return of a string (255 characters).
LONG_DESCRIPTION = "Agenda: " + " ".join(f"point {n} of the quarterly review." for n in range(40))
LONG_LOCATION = "Building 7, " + "east wing, " * 30 + "room 4"


def test_a_meeting_made_in_outlook_reaches_the_crm_with_attendees_and_description(
    ews: EmulatorProcess,
) -> None:
    # given a weekly meeting with attendees, a long description and a long location made
    # in Outlook
    mailbox = emulated_mailbox(ews)
    account = account_for(mailbox)
    start = EWSDateTime(2030, 5, 6, 8, tzinfo=UTC)
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Quarterly review",
        body=LONG_DESCRIPTION,
        location=LONG_LOCATION,
        start=start,
        end=start + dt.timedelta(minutes=90),
        required_attendees=["bob@partner.example"],
        optional_attendees=["carol@else.example"],
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1]), start=start.date(), number=4
        ),
    ).save(send_meeting_invitations=SEND_TO_NONE)

    # when the mailbox syncs
    sync(mailbox)

    # then the CRM has it whole
    appointment = Appointment.objects.get(owner_user=mailbox.user)
    assert appointment.description == LONG_DESCRIPTION
    assert appointment.location == LONG_LOCATION
    roles = {p.address: p.role for p in appointment.parties.all()}
    assert roles["bob@partner.example"] == ActivityParty.Role.REQUIRED_ATTENDEE
    assert roles["carol@else.example"] == ActivityParty.Role.OPTIONAL_ATTENDEE
    assert appointment.recurrence, "the series' recurrence was lost"
    # and a second cycle echoes nothing back
    assert sync(mailbox).items_processed == 0


def test_a_description_changed_in_outlook_reaches_the_crm(ews: EmulatorProcess) -> None:
    mailbox = emulated_mailbox(ews)
    account = account_for(mailbox)
    start = EWSDateTime(2030, 5, 6, 8, tzinfo=UTC)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Review",
        body="short",
        start=start,
        end=start + dt.timedelta(hours=1),
    )
    item.save(send_meeting_invitations=SEND_TO_NONE)
    sync(mailbox)

    # the sync marked the item with its record's id: edit the current version
    item.refresh()
    item.body = LONG_DESCRIPTION
    item.required_attendees = ["dan@partner.example"]
    item.save(
        update_fields=["body", "required_attendees"],
        send_meeting_invitations=SEND_TO_NONE,
    )
    sync(mailbox)

    appointment = Appointment.objects.get(owner_user=mailbox.user)
    assert appointment.description == LONG_DESCRIPTION
    assert "dan@partner.example" in {p.address for p in appointment.parties.all()}


def test_a_contact_and_a_task_made_in_outlook_reach_the_crm_with_their_bodies(
    ews: EmulatorProcess,
) -> None:
    mailbox = emulated_mailbox(ews)
    account = account_for(mailbox)
    EwsContact(
        account=account,
        folder=account.contacts,
        given_name="Ann",
        surname="Lee",
        display_name="Ann Lee",
        body=LONG_DESCRIPTION,
        email_addresses=[EmailAddress(email="ann@partner.example", label="EmailAddress1")],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+45 1234 5678")],
    ).save()
    EwsTask(
        account=account,
        folder=account.tasks,
        subject="Send the offer",
        body=LONG_DESCRIPTION,
    ).save()

    sync(mailbox)

    contact = Contact.objects.get(owner_user=mailbox.user)
    assert contact.notes == LONG_DESCRIPTION
    assert contact.email_address1 == "ann@partner.example"
    assert contact.phone_numbers == {"business": "+45 1234 5678"}
    task = Task.objects.get(owner_user=mailbox.user)
    assert task.description == LONG_DESCRIPTION
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 2


def test_an_idle_cycle_costs_one_request_per_folder(
    ews: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox = emulated_mailbox(ews)
    account = account_for(mailbox)
    EwsTask(account=account, folder=account.tasks, subject="One", body="x").save()
    sync(mailbox)
    # the next cycle reads back the record id the first one wrote on the item
    assert sync(mailbox).items_processed == 0
    posted: list[bytes] = []
    original = requests.Session.post

    def counting_post(self: requests.Session, *args: Any, **kwargs: Any) -> Any:
        posted.append(kwargs.get("data") or b"")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "post", counting_post)
    assert sync(mailbox).items_processed == 0
    # calendar, contacts, tasks: one SyncFolderItems each, no GetItem
    assert len(posted) == 3
    assert all(b"SyncFolderItems" in body for body in posted)
