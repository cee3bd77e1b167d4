"""GetFolder, FindFolder, CreateFolder, DeleteFolder, SyncFolderHierarchy."""

from __future__ import annotations

import pytest
from exchangelib import Account, Folder, Q
from exchangelib.errors import (
    ErrorDeleteDistinguishedFolder,
    ErrorFolderExists,
    ErrorFolderNotFound,
    ErrorInvalidIdMalformed,
    ErrorItemNotFound,
    ErrorObjectTypeChanged,
)
from exchangelib.folders import Calendar, FolderCollection, Inbox, Messages


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


def test_standard_folder_tree(account: Account) -> None:
    """The mailbox root is "root"; Top of Information Store and the non-IPM folders sit
    below it, with the classes Exchange gives them."""
    assert account.calendar.parent.parent.name == "root"
    assert account.root.tois.name == "Top of Information Store"
    assert account.root.tois.folder_class is None
    names = {f.name: f.folder_class for f in account.root.walk()}
    assert names["Journal"] == "IPF.Journal"
    assert names["Notes"] == "IPF.StickyNote"
    assert names["Reminders"] == "Outlook.Reminder"
    assert names["GAL Contacts"] == "IPF.Contact.GalContacts"
    assert {"Common Views", "Recoverable Items", "Deletions", "Sync Issues", "Conflicts"} <= set(
        names
    )
    assert len(list(account.contacts.glob("GAL*"))) == 1
    # Standard folders without a distinguished id cannot be deleted either.
    with pytest.raises(ErrorDeleteDistinguishedFolder):
        (account.root / "Common Views").delete()


def test_folder_without_class_and_class_change(account: Account) -> None:
    plain = Folder(parent=account.inbox, name="Plain")
    plain.save()
    plain.refresh()
    assert plain.folder_class is None
    mail = Messages(parent=account.inbox, name="Mail")
    mail.save()
    mail.folder_class = "IPF.Contact"
    with pytest.raises(ErrorObjectTypeChanged):
        mail.save(update_fields=["folder_class"])
    with pytest.raises(ErrorFolderExists, match="Could not create folder 'mail'"):
        Messages(parent=account.inbox, name="mail").save()


def test_updating_a_deleted_folder_is_item_not_found(account: Account) -> None:
    # Exchange answers the id of a folder that no longer exists with ErrorItemNotFound
    # (README, "UpdateFolder").
    gone = Messages(parent=account.inbox, name="Gone")
    gone.save()
    folder_id, change_key = gone.id, gone.changekey
    gone.delete()
    gone.id, gone.changekey = folder_id, change_key
    gone.name = "Renamed"
    with pytest.raises(ErrorItemNotFound):
        gone.save(update_fields=["name"])


def test_find_folders_restriction_case(account: Account) -> None:
    root = FolderCollection(account=account, folders=[account.root])
    assert [f.name for f in root.find_folders(q=Q(name__startswith="Top of"))] == [
        "Top of Information Store"
    ]
    assert list(root.find_folders(q=Q(name__startswith="top of"))) == []
    assert len(list(root.find_folders(q=Q(name__istartswith="top of")))) == 1
    only_names = list(
        FolderCollection(account=account, folders=[account.inbox]).find_folders(q=Q(name="Nothing"))
    )
    assert only_names == []


def test_move_folder_and_empty_with_subfolders(account: Account) -> None:
    first = Folder(parent=account.inbox, name="First")
    first.save()
    second = Folder(parent=account.inbox, name="Second")
    second.save()
    first_id, first_key = first.id, first.changekey
    first.move(second)
    assert first.id == first_id and first.changekey != first_key
    first.refresh()
    assert first.parent == second
    second.empty(delete_sub_folders=True)
    second.refresh()
    assert second.child_folder_count == 0


def test_malformed_folder_id_and_public_folders(account: Account) -> None:
    with pytest.raises(ErrorInvalidIdMalformed):
        Folder(root=account.root, id="XXX").refresh()
    with pytest.raises(ErrorFolderNotFound, match="no public folder servers"):
        _ = account.public_folders_root


def test_folder_permission_set(account: Account) -> None:
    from exchangelib.properties import Permission, PermissionSet, UserId

    folder = Folder(parent=account.inbox, name="Shared")
    folder.save()
    folder.refresh()
    levels = {
        p.user_id.distinguished_user: p.permission_level for p in folder.permission_set.permissions
    }
    assert levels == {"Default": "None", "Anonymous": "None"}
    folder.permission_set = PermissionSet(
        permissions=[
            Permission(
                user_id=UserId(distinguished_user="Default"),
                permission_level="Reviewer",
                read_items="FullDetails",
            )
        ]
    )
    folder.save(update_fields=["permission_set"])
    folder.refresh()
    [only] = folder.permission_set.permissions
    assert (only.permission_level, only.read_items) == ("Reviewer", "FullDetails")
