"""Exchange gives an item a new id when it moves, and a soft delete and a restore are moves
(EWS reference, "MoveItem operation"); the CRM record and its mapping follow the item by
the record id the engine stamps on it, with no duplicate and no lost link."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.folders import Folder
from exchangelib.items import SEND_TO_NONE
from exchangelib.items import Contact as EwsContact

from activities.models import Appointment, Contact
from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.base import ItemRef, Saved
from mailboxes.connectors.ews import account_for
from mailboxes.connectors.ews.connector import EwsMailboxConnector
from mailboxes.connectors.ews.folders import MAX_CHANGES_PER_PAGE
from mailboxes.connectors.ews.stamp import FIELD
from mailboxes.itemtypes import TYPES
from mailboxes.models import ExchangeSyncIdMapping, ItemType, ItemTypeSyncOptions
from mailboxes.sync.pull import record_stamps
from mailboxes.sync.records import TypeSync
from tests.factories import make_appointment
from tests.sync.helpers import emulated_mailbox, options, sync

pytestmark = pytest.mark.django_db

UTC = EWSTimeZone("UTC")


def _mappings(mailbox) -> list[ExchangeSyncIdMapping]:
    return list(ExchangeSyncIdMapping.objects.filter(mailbox=mailbox))


def test_a_contact_moved_to_another_folder_and_back_keeps_one_record_and_mapping(
    ews: EmulatorProcess,
) -> None:
    # given a contact made in Outlook and a folder below Contacts, both synced
    mailbox = emulated_mailbox(ews)
    account = account_for(mailbox)
    partners = Folder(parent=account.contacts, name="Partners", folder_class="IPF.Contact")
    partners.save()
    contact = EwsContact(
        account=account,
        folder=account.contacts,
        given_name="Ann",
        surname="Lee",
        display_name="Ann Lee",
        body="Met at the fair",
    )
    contact.save()
    sync(mailbox)
    options(mailbox, ItemType.CONTACT, delete_exchange_to_crm=True)
    (record,) = Contact.objects.filter(owner_user=mailbox.user)
    (mapping,) = _mappings(mailbox)
    # the engine marked the item with its record's id, with the page (EWS ids change on
    # moves: nothing is left for later)
    (stamped,) = account.fetch(ids=[(mapping.exchange_item_id, None)], only_fields=[FIELD])
    assert getattr(stamped, FIELD) == str(record.pk)
    assert not mapping.stamp_pending

    # when the user moves it to Partners (a new id), syncs, and moves it back
    first_id = mapping.exchange_item_id
    contact.id, contact.changekey = mapping.exchange_item_id, None
    contact.move(partners)
    sync(mailbox)
    (moved,) = _mappings(mailbox)
    assert (moved.exchange_item_id, moved.exchange_folder_id) == (contact.id, partners.id)
    contact.move(account.contacts)
    sync(mailbox)

    # then the same record and one mapping follow it, with nothing deleted or doubled
    assert list(Contact.objects.filter(owner_user=mailbox.user)) == [record]
    (back,) = _mappings(mailbox)
    assert back.pk == mapping.pk and back.crm_object_id == record.pk
    assert back.exchange_item_id == contact.id != first_id
    assert not back.is_deleted_in_exchange
    record.refresh_from_db()
    assert record.notes == "Met at the fair"
    assert sync(mailbox).items_processed == 0


def test_an_appointment_soft_deleted_and_restored_keeps_one_record_and_mapping(
    ews: EmulatorProcess,
) -> None:
    # given an appointment made in Outlook, synced
    mailbox = emulated_mailbox(ews)
    account = account_for(mailbox)
    start = EWSDateTime(2030, 6, 3, 9, tzinfo=UTC)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Board meeting",
        body="Minutes to follow",
        start=start,
        end=start + dt.timedelta(hours=2),
    )
    item.save(send_meeting_invitations=SEND_TO_NONE)
    sync(mailbox)
    (record,) = Appointment.objects.filter(owner_user=mailbox.user)

    # when the user soft-deletes it, a cycle runs, and they recover it
    item.soft_delete()
    sync(mailbox)
    (deleted,) = _mappings(mailbox)
    assert deleted.is_deleted_in_exchange
    (recoverable,) = ews.control.items(mailbox.email_address, "recoverableitemsdeletions")
    ews.control.move_item(recoverable["id"], "calendar")
    sync(mailbox)

    # then the CRM still has one record, linked by one live mapping to the restored item
    assert list(Appointment.objects.filter(owner_user=mailbox.user)) == [record]
    (restored,) = _mappings(mailbox)
    assert restored.pk == deleted.pk and not restored.is_deleted_in_exchange
    (now,) = ews.control.items(mailbox.email_address, "calendar")
    assert restored.exchange_item_id == now["id"] != item.id
    assert sync(mailbox).items_processed == 0


def test_a_crm_appointment_moved_away_and_back_in_exchange_is_not_duplicated(
    ews: EmulatorProcess,
) -> None:
    # given an appointment made in the CRM and pushed (stamped as it is created)
    mailbox = emulated_mailbox(ews)
    sync(mailbox)
    options(mailbox, ItemType.APPOINTMENT, delete_exchange_to_crm=True)
    record = make_appointment(
        owner_user=mailbox.user,
        subject="Site visit",
        start=dt.datetime(2030, 7, 1, 9, tzinfo=dt.UTC),
        end=dt.datetime(2030, 7, 1, 10, tzinfo=dt.UTC),
    )
    sync(mailbox)
    (mapping,) = _mappings(mailbox)

    # when the user moves it to Deleted Items, a cycle runs, and they move it back
    moved = ews.control.move_item(mapping.exchange_item_id, "deleteditems")
    sync(mailbox)
    ews.control.move_item(moved["id"], "calendar")
    sync(mailbox)

    # then (deletes reaching the CRM) the record went with the delete and came back as one
    # record, and the item now carries that record's id
    (appointment,) = Appointment.objects.filter(owner_user=mailbox.user)
    assert appointment.subject == "Site visit" and appointment.pk != record.pk
    (back,) = _mappings(mailbox)
    assert back.crm_object_id == appointment.pk
    account = account_for(mailbox)
    (item,) = account.fetch(ids=[(back.exchange_item_id, None)], only_fields=[FIELD])
    assert getattr(item, FIELD) == str(appointment.pk)
    assert sync(mailbox).items_processed == 0


def test_an_initial_sync_of_several_pages_marks_every_item_and_keeps_its_change_key(
    ews: EmulatorProcess,
) -> None:
    # given more contacts than one SyncFolderItems page holds (the marks of a page are
    # written while the next page is)
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "contacts", MAX_CHANGES_PER_PAGE + 40)

    # when the mailbox syncs for the first time
    sync(mailbox)

    # then every item carries its record's id, and each mapping holds the item's version
    # as marked, so the next sync has nothing to read back
    mappings = {m.exchange_item_id: m for m in _mappings(mailbox)}
    assert len(mappings) == MAX_CHANGES_PER_PAGE + 40
    account = account_for(mailbox)
    items = list(account.fetch(ids=[(i, None) for i in mappings], only_fields=[FIELD]))
    assert {i.id: getattr(i, FIELD) for i in items} == {
        i: str(m.crm_object_id) for i, m in mappings.items()
    }
    assert {i.id: i.changekey for i in items} == {i: m.change_key for i, m in mappings.items()}
    assert sync(mailbox).items_processed == 0


def test_a_mark_does_not_overwrite_a_newer_version_seen_meanwhile(ews: EmulatorProcess) -> None:
    # given a synced contact whose mapping has since moved on to a newer version (a later
    # page saw the item changed again while its mark was in flight)
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "contacts", 2)
    sync(mailbox)
    first, second = _mappings(mailbox)
    ExchangeSyncIdMapping.objects.filter(pk=first.pk).update(change_key="newer")
    ts = TypeSync(
        mailbox=mailbox,
        options=ItemTypeSyncOptions.objects.get(mailbox=mailbox, item_type=ItemType.CONTACT),
        kind=TYPES[ItemType.CONTACT],
        connector=EwsMailboxConnector(account_for(mailbox)).items(TYPES[ItemType.CONTACT]),
        protocol="ews",
        content_type=ContentType.objects.get_for_model(Contact),
    )

    # when the answers of marks based on the versions first synced come in
    todo = [(ItemRef(m.exchange_item_id, m.change_key), m.crm_object_id) for m in (first, second)]
    keys = record_stamps(
        ts, todo, [Saved(m.exchange_item_id, f"marked-{m.pk}") for m in (first, second)]
    )

    # then only the mapping still at the version marked takes the mark's change key
    assert set(keys) == {first.exchange_item_id, second.exchange_item_id}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.change_key == "newer"
    assert second.change_key == f"marked-{second.pk}"
