"""The EWS connector at the seam the engine speaks (`mailboxes/connectors/base.py`), against
the emulator: pages of canonical forms from opaque cursors, writes by change key, stamps,
and the seam's errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from exchangelib.folders import Folder

from activities.models import Contact, Task
from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.base import (
    ChangePage,
    CursorLostError,
    DeleteMode,
    FolderNotFoundError,
    ItemChange,
    ItemConflictError,
    ItemNotFoundError,
    ItemRef,
    NewItem,
    Saved,
)
from mailboxes.connectors.ews.connector import EwsItemConnector, EwsMailboxConnector
from mailboxes.connectors.registry import for_mailbox
from mailboxes.itemtypes import TYPES
from mailboxes.models import ItemType
from tests.sync.helpers import emulated_mailbox

pytestmark = pytest.mark.django_db


def _task(subject: str, **fields: object) -> dict[str, object]:
    return TYPES[ItemType.TASK].record_canonical(Task(subject=subject, **fields))


def _connector(ews: EmulatorProcess, item_type: str = ItemType.TASK) -> EwsItemConnector:
    connector = for_mailbox(emulated_mailbox(ews))
    assert isinstance(connector, EwsMailboxConnector)
    return connector.items(TYPES[item_type])


def _pages(items: EwsItemConnector, folder: str, cursor: str | None) -> list[ChangePage]:
    return list(items.changes(folder, cursor))


def _saved(results: Sequence[object]) -> list[Saved]:
    assert all(isinstance(r, Saved) for r in results), results
    return [r for r in results if isinstance(r, Saved)]


def test_a_first_pull_pages_every_item_in_canonical_form_with_the_record_id_it_carries(
    ews: EmulatorProcess,
) -> None:
    # given three tasks created through the seam, each carrying its record's id
    items = _connector(ews)
    wanted = {
        101: _task("Call Ann", status=Task.Status.IN_PROGRESS, percent_complete=40),
        102: _task("Send offer", due_date=dt.datetime(2026, 5, 4, tzinfo=dt.UTC)),
        103: _task("Book room", categories=["Blue", "Admin"]),
    }
    created = _saved(
        items.create(
            "tasks", [NewItem(c, record_id) for record_id, c in wanted.items()], notify=False
        )
    )

    # when the folder is pulled from the start
    pages = _pages(items, "tasks", None)

    # then every item comes once, as the canonical form written, with its stamp and folder
    changed = [item for page in pages for item in page.changed]
    assert {i.id for i in changed} == {s.id for s in created}
    assert {i.record_id: i.canonical for i in changed} == wanted
    assert {i.folder_id for i in changed} == {"tasks"}
    assert all(i.change_key and i.modified_at is not None for i in changed)
    assert pages[-1].complete and pages[-1].cursor

    # and the cursor it ends with reports nothing new
    again = _pages(items, "tasks", pages[-1].cursor)
    assert [i for p in again for i in p.changed] == [] and [
        d for p in again for d in p.deleted
    ] == []


def test_an_update_with_a_stale_change_key_is_refused_and_a_fresh_one_is_paged(
    ews: EmulatorProcess,
) -> None:
    # given a task and the cursor after it
    items = _connector(ews)
    (first,) = _saved(items.create("tasks", [NewItem(_task("Draft"), 7)], notify=False))
    cursor = _pages(items, "tasks", None)[-1].cursor
    (second,) = _saved(
        items.update(
            [ItemChange(ItemRef(first.id, first.change_key), _task("Draft 2"))], notify=False
        )
    )
    assert second.change_key != first.change_key

    # when it is updated again with the change key it had before
    (stale,) = items.update(
        [ItemChange(ItemRef(first.id, first.change_key), _task("Draft 3"))], notify=False
    )

    # then that item is refused as a conflict, and the page after the cursor shows the
    # version written with the fresh key
    assert isinstance(stale, ItemConflictError)
    (changed,) = [i for p in _pages(items, "tasks", cursor) for i in p.changed]
    assert (changed.id, changed.change_key) == (second.id, second.change_key)
    assert changed.canonical["subject"] == "Draft 2"


def test_a_stale_change_key_refuses_its_item_only_and_the_batch_is_written(
    ews: EmulatorProcess,
) -> None:
    items = _connector(ews)
    one, two = _saved(
        items.create("tasks", [NewItem(_task("One"), 1), NewItem(_task("Two"), 2)], notify=False)
    )
    _saved(
        items.update([ItemChange(ItemRef(one.id, one.change_key), _task("One b"))], notify=False)
    )

    stale, fresh = items.update(
        [
            ItemChange(ItemRef(one.id, one.change_key), _task("One c")),
            ItemChange(ItemRef(two.id, two.change_key), _task("Two b")),
        ],
        notify=False,
    )

    assert isinstance(stale, ItemConflictError)
    assert isinstance(fresh, Saved) and fresh.id == two.id
    subjects = {
        i.id: i.canonical["subject"] for p in _pages(items, "tasks", None) for i in p.changed
    }
    assert subjects == {one.id: "One b", two.id: "Two b"}


def test_deleted_items_are_paged_as_ids_and_a_second_delete_is_not_found(
    ews: EmulatorProcess,
) -> None:
    items = _connector(ews)
    (saved,) = _saved(items.create("tasks", [NewItem(_task("Old"), 9)], notify=False))
    cursor = _pages(items, "tasks", None)[-1].cursor

    assert items.delete([saved.id], mode=DeleteMode.HARD, notify=False) == [None]
    (again,) = items.delete([saved.id], mode=DeleteMode.HARD, notify=False)

    assert isinstance(again, ItemNotFoundError)
    pages = _pages(items, "tasks", cursor)
    assert [d for p in pages for d in p.deleted] == [saved.id]
    assert [i for p in pages for i in p.changed] == []


def test_stamps_are_written_on_existing_items_and_found_by_record_id(ews: EmulatorProcess) -> None:
    # given a task the CRM created (stamped 21) and one made elsewhere (no stamp yet)
    mailbox = emulated_mailbox(ews)
    items = EwsMailboxConnector.for_mailbox(mailbox).items(TYPES[ItemType.TASK])
    _saved(items.create("tasks", [NewItem(_task("Ours"), 21)], notify=False))
    (theirs,) = _saved(items.create("tasks", [NewItem(_task("Theirs"), 22)], notify=False))

    # when the second is stamped with another record id
    (restamped,) = _saved(items.stamp([(ItemRef(theirs.id, theirs.change_key), 23)]))

    # then FindItem on the stamp finds each by its record id, and the page carries it
    found = items.find_stamped("tasks", [21, 22, 23, 24])
    assert set(found) == {21, 23}
    assert found[23].id == theirs.id == restamped.id
    by_subject = {
        i.canonical["subject"]: i.record_id for p in _pages(items, "tasks", None) for i in p.changed
    }
    assert by_subject == {"Ours": 21, "Theirs": 23}


def test_a_refused_cursor_and_a_missing_folder_are_the_seams_errors(ews: EmulatorProcess) -> None:
    mailbox = emulated_mailbox(ews)
    items = EwsMailboxConnector.for_mailbox(mailbox).items(TYPES[ItemType.TASK])
    _saved(items.create("tasks", [NewItem(_task("One"), 1)], notify=False))
    cursor = _pages(items, "tasks", None)[-1].cursor

    ews.control.inject_fault(
        "invalid_sync_state", operation="SyncFolderItems", mailbox=mailbox.email_address, count=1
    )
    with pytest.raises(CursorLostError):
        _pages(items, "tasks", cursor)

    # and a mailbox without folders below Contacts lists none
    contacts = EwsMailboxConnector.for_mailbox(mailbox).items(TYPES[ItemType.CONTACT])
    assert contacts.folders_below("contacts") == []


def test_contact_folders_below_contacts_are_listed_and_a_deleted_one_is_not_found(
    ews: EmulatorProcess,
) -> None:
    # given a contact folder below Contacts holding one contact
    mailbox = emulated_mailbox(ews)
    connector = EwsMailboxConnector.for_mailbox(mailbox)
    partners = Folder(
        parent=connector.account.contacts, name="Partners", folder_class="IPF.Contact"
    )
    partners.save()
    contacts = connector.items(TYPES[ItemType.CONTACT])
    ann = TYPES[ItemType.CONTACT].record_canonical(
        Contact(
            first_name="Ann",
            last_name="Lee",
            display_name="Ann Lee",
            email_address1="ann@example.com",
        )
    )
    _saved(contacts.create(partners.id, [NewItem(ann, 5)], notify=False))

    # then it is listed, its contact pages from it, and once deleted it is not found
    (listed,) = contacts.folders_below("contacts")
    assert (listed.id, listed.name) == (partners.id, "Partners")
    (item,) = [i for p in _pages(contacts, listed.id, None) for i in p.changed]
    assert (item.canonical, item.record_id, item.folder_id) == (ann, 5, partners.id)
    partners.delete()
    with pytest.raises(FolderNotFoundError):
        _pages(contacts, listed.id, None)
