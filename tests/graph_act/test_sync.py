"""Appointments, contacts and tasks of a Microsoft 365 mailbox through the same engine as
EWS: the emulator's Graph and Entra ID, changes made as a user in Outlook would (the control
API, through EWS) and in the CRM."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from activities.models import ActivityParty, Appointment, ChangeOrigin, Contact, Task
from ews_emulator.graph import ids
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.connectors.graph.converters.common import STAMP_ID
from mailboxes.connectors.graph.converters.tasks import EXTENSION_NAME
from mailboxes.models import ExchangeSyncIdMapping, ItemType
from tests.conftest import M365
from tests.graph_act.helpers import graph_mailbox, items_of
from tests.sync.helpers import options, sync

pytestmark = pytest.mark.django_db

TOMORROW = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)


def _stamp(m365: M365, item_id: str) -> str | None:
    xml = m365.tenant.control.item(item_id)["xml"]
    marker = 'PropertyName="CrmRecordId"'
    if marker not in xml:
        return None
    return xml.split(marker, 1)[1].split("<t:Value>", 1)[1].split("</t:Value>", 1)[0]


def _task_extension(m365: M365, item_id: str) -> dict[str, Any] | None:
    """crmsync's open extension on a To Do task, as the emulator keeps it."""
    xml = m365.tenant.control.item(item_id)["xml"]
    marker = f'PropertyName="{EXTENSION_NAME}"'
    if marker not in xml:
        return None
    value = xml.split(marker, 1)[1].split("<t:Value>", 1)[1].split("</t:Value>", 1)[0]
    found: dict[str, Any] = json.loads(value.replace("&quot;", '"').replace("&amp;", "&"))
    return found


def test_initial_sync_brings_every_type_with_bodies_and_attendees(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    meeting = control.create_item(
        address,
        "calendar",
        {
            "Subject": "Kick-off",
            "Body": {"type": "HTML", "value": "<p>Agenda: <b>plans</b></p>"},
            "Start": (TOMORROW).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "End": (TOMORROW + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RequiredAttendees": [
                {"email": "ann@example.org", "name": "Ann", "response": "Accept"}
            ],
        },
    )
    control.seed(address, "contacts", 3)
    control.seed(address, "tasks", 2)
    sync(mailbox)
    (appointment,) = Appointment.objects.filter(owner_user=mailbox.user)
    assert appointment.subject == "Kick-off"
    assert "Agenda: plans" in appointment.description
    assert [
        p.address for p in appointment.parties.filter(role=ActivityParty.Role.REQUIRED_ATTENDEE)
    ] == ["ann@example.org"]
    assert Contact.objects.filter(owner_user=mailbox.user).count() == 3
    assert sorted(
        Task.objects.filter(owner_user=mailbox.user).values_list("subject", flat=True)
    ) == [
        "Seeded task 0",
        "Seeded task 1",
    ]
    # every item the CRM linked carries its record id, as over EWS
    assert _stamp(m365, meeting["id"]) == str(appointment.pk)
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 6


def test_changes_both_ways(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    (contact_id,) = control.seed(address, "contacts", 1)
    sync(mailbox)
    (record,) = Contact.objects.filter(owner_user=mailbox.user)
    # Exchange → CRM
    control.update_item(contact_id, {"JobTitle": "Head of Purchasing"})
    sync(mailbox)
    record.refresh_from_db()
    assert record.job_title == "Head of Purchasing"
    # CRM → Exchange
    record.department = "Purchasing"
    record.change_origin, record.change_origin_mailbox = ChangeOrigin.CRM_USER, None
    record.save()
    sync(mailbox)
    (item,) = items_of(m365, mailbox, "contacts")
    fields = control.item(item["id"])["fields"]
    assert fields.get("Department") == "Purchasing"
    assert Contact.objects.filter(owner_user=mailbox.user).count() == 1


def test_a_record_made_in_the_crm_is_created_stamped_and_not_duplicated(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    sync(mailbox)
    task = Task.objects.create(owner_user=mailbox.user, subject="Send the offer", priority="high")
    sync(mailbox)
    sync(mailbox)
    (item,) = items_of(m365, mailbox, "tasks")
    assert item["subject"] == "Send the offer"
    # a todoTask has no extended properties: the record id is in crmsync's open extension
    assert _stamp(m365, item["id"]) is None
    assert (_task_extension(m365, item["id"]) or {}).get("recordId") == str(task.pk)
    assert Task.objects.filter(owner_user=mailbox.user).count() == 1


def test_a_first_sync_reads_the_percent_complete_of_crmsync_s_extension(m365: M365) -> None:
    """A task made by another client with crmsync's extension (no record id yet): its
    percent complete is read, and linking it adds the record id without losing it."""
    mailbox = graph_mailbox(m365)
    client = GraphMailboxConnector.for_mailbox(mailbox).client
    lists = client.get("todo/lists")
    assert lists is not None
    made = client.post(
        f"todo/lists/{lists['value'][0]['id']}/tasks",
        {
            "title": "Half done",
            "status": "inProgress",
            "extensions": [
                {
                    "@odata.type": "microsoft.graph.openTypeExtension",
                    "extensionName": EXTENSION_NAME,
                    "percentComplete": 50,
                }
            ],
        },
    )
    assert made is not None
    sync(mailbox)
    (record,) = Task.objects.filter(owner_user=mailbox.user)
    assert (record.subject, record.percent_complete) == ("Half done", 50)
    # linked: the record id joins the extension's data, the percent is kept (an update of
    # an open extension deletes the data it is not sent)
    (item,) = items_of(m365, mailbox, "tasks")
    assert _task_extension(m365, item["id"]) == {
        "extensionName": EXTENSION_NAME,
        "percentComplete": 50,
        "recordId": str(record.pk),
    }
    sync(mailbox)
    record.refresh_from_db()
    assert record.percent_complete == 50


def test_to_do_tasks_carry_the_record_id_and_percent_in_an_open_extension(m365: M365) -> None:
    """Graph v1.0 has no extended properties on a todoTask: an Exchange task linked by the
    CRM gets crmsync's open extension, the CRM's percent complete is kept in it through an
    edit in To Do, and a lost delta link re-links the tasks by it without duplicates."""
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    (seeded,) = control.seed(address, "tasks", 1)
    sync(mailbox)
    (record,) = Task.objects.filter(owner_user=mailbox.user)
    assert _task_extension(m365, seeded) == {
        "extensionName": EXTENSION_NAME,
        "recordId": str(record.pk),
    }
    record.status, record.percent_complete = Task.Status.IN_PROGRESS, 40
    record.change_origin, record.change_origin_mailbox = ChangeOrigin.CRM_USER, None
    record.save()
    sync(mailbox)
    assert _task_extension(m365, seeded) == {
        "extensionName": EXTENSION_NAME,
        "recordId": str(record.pk),
        "percentComplete": 40,
    }
    control.update_item(seeded, {"Subject": "Renamed in To Do"})
    sync(mailbox)
    record.refresh_from_db()
    assert (record.subject, record.percent_complete) == ("Renamed in To Do", 40)
    made = Task.objects.create(owner_user=mailbox.user, subject="From the CRM")
    sync(mailbox)
    control.inject_graph_fault("graph_410", path="tasks/delta", mailbox=address)
    sync(mailbox)
    assert Task.objects.filter(owner_user=mailbox.user).count() == 2
    assert sorted(
        str((_task_extension(m365, i["id"]) or {}).get("recordId"))
        for i in items_of(m365, mailbox, "tasks")
    ) == sorted([str(record.pk), str(made.pk)])
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 2


def test_deletes_both_ways(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    first, _ = control.seed(address, "contacts", 2)
    sync(mailbox)
    options(mailbox, ItemType.CONTACT, delete_exchange_to_crm=True, delete_crm_to_exchange=True)
    control.delete_item(first, mode="hard")
    sync(mailbox)
    remaining = list(Contact.objects.filter(owner_user=mailbox.user))
    assert [c.last_name for c in remaining] == ["Last1"]
    remaining[0].delete()
    sync(mailbox)
    assert items_of(m365, mailbox, "contacts") == []
    assert not ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).exists()


def test_a_soft_deleted_item_is_deleted_in_the_crm_once(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    (task_id,) = control.seed(address, "tasks", 1)
    sync(mailbox)
    options(mailbox, ItemType.TASK, delete_exchange_to_crm=True)
    control.delete_item(task_id, mode="soft")
    sync(mailbox)
    assert not Task.objects.filter(owner_user=mailbox.user).exists()


def test_a_contact_moved_to_a_folder_below_contacts_keeps_its_record(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    (contact_id,) = control.seed(address, "contacts", 1)
    client = GraphMailboxConnector.for_mailbox(mailbox).client
    folder = client.post("contactFolders", {"displayName": "Partners"})
    assert folder is not None
    sync(mailbox)
    options(mailbox, ItemType.CONTACT, delete_exchange_to_crm=True)
    (record,) = Contact.objects.filter(owner_user=mailbox.user)
    control.move_item(contact_id, ids.ews_id(str(folder["id"])))
    sync(mailbox)
    (mapping,) = ExchangeSyncIdMapping.objects.filter(mailbox=mailbox)
    assert mapping.crm_object_id == record.pk
    assert mapping.exchange_folder_id == str(folder["id"])  # it followed the item
    assert Contact.objects.filter(owner_user=mailbox.user).count() == 1


def nested_contact_folders(client: Any) -> list[dict[str, Any]]:
    """Partners in Contacts, EU below it, DE below EU, made over Graph."""
    made: list[dict[str, Any]] = []
    for name in ("Partners", "EU", "DE"):
        path = f"contactFolders/{made[-1]['id']}/childFolders" if made else "contactFolders"
        folder = client.post(path, {"displayName": name})
        assert folder is not None
        made.append(folder)
    return made


def test_contacts_in_folders_nested_two_levels_deep_sync_and_can_be_selected(
    m365: M365,
) -> None:
    """Contact folders below contact folders (Graph's Create child folder): every folder at
    any depth is pulled, a contact moved into the deepest one keeps its record, and a
    selected folder two levels down is pulled alone."""
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    client = GraphMailboxConnector.for_mailbox(mailbox).client
    _, europe, germany = nested_contact_folders(client)
    (moved,) = control.seed(address, "contacts", 1, fields={"Surname": "Mover"})
    for folder, surname in ((europe, "Level2"), (germany, "Level3")):
        made = client.post(
            f"contactFolders/{folder['id']}/contacts", {"givenName": "In", "surname": surname}
        )
        assert made is not None
    sync(mailbox)
    options(mailbox, ItemType.CONTACT, delete_exchange_to_crm=True)
    records = Contact.objects.filter(owner_user=mailbox.user)
    assert sorted(records.values_list("last_name", flat=True)) == ["Level2", "Level3", "Mover"]
    mover = records.get(last_name="Mover")
    control.move_item(moved, ids.ews_id(str(germany["id"])))
    sync(mailbox)
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox, crm_object_id=mover.pk)
    assert mapping.exchange_folder_id == str(germany["id"])  # it followed the item
    assert records.count() == 3
    # the contact import narrowed to the folder two levels down
    only = graph_mailbox(m365)
    only_client = GraphMailboxConnector.for_mailbox(only).client
    _, mid, deep = nested_contact_folders(only_client)
    for path, surname in (
        ("contacts", "Default"),
        (f"contactFolders/{mid['id']}/contacts", "Middle"),
        (f"contactFolders/{deep['id']}/contacts", "Deep"),
    ):
        assert only_client.post(path, {"givenName": "A", "surname": surname}) is not None
    options(
        only,
        ItemType.CONTACT,
        contact_import_scope="selected_folders",
        contact_import_folders=[str(deep["id"])],
    )
    sync(only)
    assert list(
        Contact.objects.filter(owner_user=only.user).values_list("last_name", flat=True)
    ) == ["Deep"]


def test_a_lost_delta_link_resyncs_without_duplicates(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    control.seed(address, "contacts", 4)
    control.seed(address, "calendar", 3)
    sync(mailbox)
    control.seed(address, "contacts", 1, fields={"Surname": "Newcomer"})
    # the kept delta links of the contacts and the calendar are lost (410), once each
    control.inject_graph_fault("graph_410", path="contacts/delta", mailbox=address)
    control.inject_graph_fault("graph_410", path="calendarView/delta", mailbox=address)
    sync(mailbox)
    assert Contact.objects.filter(owner_user=mailbox.user).count() == 5
    assert Appointment.objects.filter(owner_user=mailbox.user).count() == 3
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 8


def test_the_stamp_is_the_ews_property(m365: M365) -> None:
    assert STAMP_ID == "String {0b1f4e2c-6d0a-4c53-9a57-63726d73796e} Name CrmRecordId"


def test_an_idle_cycle_asks_one_delta_per_folder(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    control.seed(address, "calendar", 2)
    control.seed(address, "contacts", 2)
    control.seed(address, "tasks", 2)
    sync(mailbox)
    sync(mailbox)  # the stamps written by the first cycle come back once
    control.graph_counters(reset=True)
    sync(mailbox)
    assert control.graph_counters()["requests"].get(address) == 3  # calendar, contacts, tasks


def test_a_series_with_an_exception_and_a_cancelled_occurrence_both_ways(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    client = GraphMailboxConnector.for_mailbox(mailbox).client
    start = (TOMORROW + dt.timedelta(days=7)).replace(hour=9, minute=0, second=0)
    series = client.post(
        "calendar/events",
        {
            "subject": "Stand-up",
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + dt.timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {
                    "type": "numbered",
                    "startDate": str(start.date()),
                    "numberOfOccurrences": 5,
                },
            },
        },
    )
    assert series is not None
    window = {
        "startDateTime": start.strftime("%Y-%m-%dT00:00:00Z"),
        "endDateTime": (start + dt.timedelta(days=6)).strftime("%Y-%m-%dT00:00:00Z"),
    }
    first, second, third = list(client.items(f"events/{series['id']}/instances", params=window))[:3]
    client.patch(f"events/{second['id']}", {"subject": "Stand-up (long)"})
    client.delete(f"events/{third['id']}")
    sync(mailbox)
    master = Appointment.objects.get(owner_user=mailbox.user, series_master__isnull=True)
    exceptions = {e.original_start: e for e in master.exceptions.all()}
    assert len(exceptions) == 2
    changed = [e for e in exceptions.values() if not e.is_cancelled]
    assert [e.subject for e in changed] == ["Stand-up (long)"]
    # and back: the CRM cancels the first occurrence too
    first_start = dt.datetime.fromisoformat(first["originalStart"].replace("Z", "+00:00"))
    Appointment.objects.create(
        owner_user=mailbox.user,
        series_master=master,
        original_start=first_start,
        start=first_start,
        end=first_start + dt.timedelta(minutes=15),
        subject="Stand-up",
        is_cancelled=True,
        change_origin=ChangeOrigin.CRM_USER,
    )
    Appointment.objects.filter(pk=master.pk).update(change_origin=ChangeOrigin.CRM_USER)
    sync(mailbox)
    remaining = list(client.items(f"events/{series['id']}/instances", params=window))
    assert first["id"] not in {i["id"] for i in remaining}
    assert len(remaining) == 3


def test_a_crm_meeting_is_created_with_its_attendees_and_its_stamp(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    sync(mailbox)
    meeting = Appointment.objects.create(
        owner_user=mailbox.user,
        subject="Offer walkthrough",
        start=TOMORROW,
        end=TOMORROW + dt.timedelta(hours=1),
        change_origin=ChangeOrigin.CRM_USER,
    )
    ActivityParty.objects.create(
        appointment=meeting,
        role=ActivityParty.Role.REQUIRED_ATTENDEE,
        address="dora@partner.example",
        display_name="Dora",
    )
    sync(mailbox)
    sync(mailbox)
    (item,) = items_of(m365, mailbox, "calendar")
    assert _stamp(m365, item["id"]) == str(meeting.pk)
    xml = m365.tenant.control.item(item["id"])["xml"]
    assert "dora@partner.example" in xml
    assert Appointment.objects.filter(owner_user=mailbox.user).count() == 1
