"""GetFolder, FindFolder, CreateFolder, DeleteFolder, SyncFolderHierarchy."""

from __future__ import annotations

import pytest
from exchangelib import Account, Folder
from exchangelib.errors import ErrorFolderNotFound
from exchangelib.folders import Calendar, Inbox, Messages


def test_get_folder_by_distinguished_id_and_by_id(account: Account) -> None:
    inbox = account.inbox
    assert isinstance(inbox, Inbox) and inbox.name == "Inbox"
    again = account.root.get_folder(inbox)
    assert (again.id, again.name) == (inbox.id, "Inbox")
    assert isinstance(account.calendar, Calendar)
    assert account.calendar.folder_class == "IPF.Appointment"


def test_create_find_and_delete_folders(account: Account) -> None:
    projects = Messages(parent=account.inbox, name="Projects")
    projects.save()
    alpha = Folder(parent=projects, name="Alpha")
    alpha.save()
    shallow = [f.name for f in account.inbox.children]
    assert shallow == ["Projects"]
    deep = {f.name for f in account.inbox.walk()}
    assert deep == {"Projects", "Alpha"}
    found = account.inbox.glob("Proj*")
    assert [f.name for f in found] == ["Projects"]
    account.root.refresh()
    assert (account.inbox / "Projects").id == projects.id
    projects.refresh()
    assert projects.child_folder_count == 1
    projects.delete()
    account.root.refresh()
    assert [f.name for f in account.inbox.children] == []
    assert alpha.id not in {f.id for f in account.root.walk()}
    with pytest.raises(ErrorFolderNotFound):
        alpha.refresh()


def test_sync_folder_hierarchy(account: Account) -> None:
    root = account.msg_folder_root
    initial = list(root.sync_hierarchy())
    names = {f.name for kind, f in initial if kind == "create"}
    assert {"Inbox", "Calendar", "Contacts", "Tasks", "Sent Items"} <= names
    state = root.folder_sync_state
    folder = Folder(parent=account.inbox, name="Tracked")
    folder.save()
    changes = list(root.sync_hierarchy(sync_state=state))
    assert [(k, f.name) for k, f in changes] == [("create", "Tracked")]
    state = root.folder_sync_state
    folder.name = "Tracked 2"
    folder.save()
    changes = list(root.sync_hierarchy(sync_state=state))
    assert [(k, f.name) for k, f in changes] == [("update", "Tracked 2")]
    state = root.folder_sync_state
    folder_id = folder.id
    folder.delete()
    changes = list(root.sync_hierarchy(sync_state=state))
    assert [(k, f.id) for k, f in changes] == [("delete", folder_id)]


def test_folder_counts(account: Account, control: object) -> None:
    control.seed(account.primary_smtp_address, "messages", 3)  # type: ignore[attr-defined]
    inbox = account.inbox
    inbox.refresh()
    assert (inbox.total_count, inbox.unread_count) == (3, 3)
