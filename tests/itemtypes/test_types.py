"""The CRM side of each item type (`mailboxes/itemtypes/`): a record's canonical form applied
to a new record gives the same canonical form, the policy answers what differs between
types, and matching keys ignore what a server changes (case, surrounding spaces)."""

from __future__ import annotations

import datetime as dt

import pytest

from activities.models import Appointment, ChangeOrigin, Contact, Task
from mailboxes.connectors.base import RemoteItem
from mailboxes.itemtypes import TYPES, fingerprint
from mailboxes.models import ItemType, ItemTypeSyncOptions
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def test_each_type_applies_its_canonical_form_to_a_new_record_unchanged() -> None:
    mailbox = make_mailbox()
    records = {
        ItemType.TASK: Task(
            subject="Call",
            status=Task.Status.IN_PROGRESS,
            percent_complete=30,
            due_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        ),
        ItemType.CONTACT: Contact(
            first_name="Ann", last_name="Lee", company_name="Acme", phone_numbers={"home": "1"}
        ),
        ItemType.APPOINTMENT: Appointment(
            subject="Offsite",
            start=dt.datetime(2026, 6, 1, 22, 0, tzinfo=dt.UTC),
            end=dt.datetime(2026, 6, 3, 22, 0, tzinfo=dt.UTC),
            time_zone="Europe/Berlin",
            is_all_day=True,
        ),
    }
    for item_type, record in records.items():
        kind = TYPES[item_type]
        canonical = kind.record_canonical(record, parties=[], exceptions=[])
        fresh = kind.model()
        kind.apply(fresh, canonical, mailbox)
        assert kind.record_canonical(fresh, parties=[], exceptions=[]) == canonical, item_type
        assert fresh.change_origin == ChangeOrigin.SYNC
        assert fresh.change_origin_mailbox == mailbox
        assert fingerprint(canonical) == fingerprint(dict(reversed(canonical.items())))


def test_the_policy_says_what_differs_between_types() -> None:
    appointments, contacts, tasks = (
        TYPES[t] for t in (ItemType.APPOINTMENT, ItemType.CONTACT, ItemType.TASK)
    )
    assert (appointments.has_series, appointments.has_parties, appointments.keeps_ical_uid) == (
        True,
        True,
        True,
    )
    assert contacts.links_accounts and not tasks.links_accounts
    assert [t.default_folder for t in (appointments, contacts, tasks)] == [
        "calendar",
        "contacts",
        "tasks",
    ]
    assert contacts.subject(contacts.record_canonical(Contact(first_name="Ann"))) == "Ann"


def test_an_old_appointment_is_neither_imported_nor_exported_after_sync_from() -> None:
    kind = TYPES[ItemType.APPOINTMENT]
    options = ItemTypeSyncOptions(sync_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    old = Appointment(
        subject="Old",
        start=dt.datetime(2025, 12, 30, 9, tzinfo=dt.UTC),
        end=dt.datetime(2025, 12, 30, 10, tzinfo=dt.UTC),
    )
    canonical = kind.record_canonical(old, parties=[], exceptions=[])
    assert not kind.imports(canonical, options)
    assert not kind.exports(old, options)
    assert kind.imports({**canonical, "recurrence": {"pattern": {}}}, options)


def test_meeting_invitees_are_those_of_a_meeting_the_mailbox_organizes() -> None:
    kind = TYPES[ItemType.APPOINTMENT]
    attendee = {"address": "bob@example.com", "name": "", "role": "required", "response": "none"}
    ours = {"organizer": {"address": "me@example.com", "name": ""}, "attendees": [attendee]}
    theirs = {**ours, "organizer": {"address": "boss@example.com", "name": ""}}
    assert kind.invitees(ours, "Me@Example.com") == {"bob@example.com"}
    assert kind.invitees({**ours, "organizer": None}, "me@example.com") == {"bob@example.com"}
    assert kind.invitees(theirs, "me@example.com") == set()
    assert TYPES[ItemType.TASK].invitees(ours, "me@example.com") == set()


def test_candidates_and_identity_match_a_contact_whatever_the_case_of_its_name() -> None:
    kind = TYPES[ItemType.CONTACT]
    crm = kind.record_canonical(Contact(first_name="Ann", last_name="Lee", email_address1="a@x.io"))
    server = {**crm, "first_name": "ANN", "emails": ["a@x.io", "", ""]}
    assert kind.identity(crm) == kind.identity(server)
    item = RemoteItem(id="i", change_key="c", canonical=server, folder_id="contacts")
    query = str(kind.candidates_q([item]))
    assert "a@x.io" in query and "Lee" in query
