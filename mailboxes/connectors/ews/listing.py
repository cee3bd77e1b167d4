"""Folder listings: the folders below one folder, in one deep FindFolder."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from exchangelib import Account
from exchangelib.fields import FieldPath
from exchangelib.folders import Folder, FolderCollection
from exchangelib.items import ID_ONLY

from mailboxes.connectors.ews.account import account_for
from mailboxes.connectors.ews.errors import exchange_errors, raise_if_error
from mailboxes.connectors.ews.folders import open_folder
from mailboxes.connectors.mail_base import CONTACTS_FOLDER as CONTACTS
from mailboxes.connectors.mail_base import PATH_SEPARATOR, ListedFolder

if TYPE_CHECKING:
    from mailboxes.models import Mailbox

# Calendars, contact and task folders can sit under the Inbox too; only mail is tracked.
MAIL_FOLDER_CLASS = "IPF.Note"
CONTACT_FOLDER_CLASS = "IPF.Contact"


def folders_below(account: Account, parent_id: str, field_names: Iterable[str]) -> list[Any]:
    """Every folder below `parent_id` (deep), with these fields."""
    fields = {FieldPath(field=Folder.get_field_by_fieldname(name)) for name in field_names}
    with exchange_errors():
        found = list(
            FolderCollection(
                account=account, folders=[open_folder(account, parent_id)]
            ).find_folders(shape=ID_ONLY, depth="Deep", additional_fields=fields)
        )
    for folder in found:
        raise_if_error(folder)
    return found


def contact_folders_below(account: Account, parent_id: str) -> list[tuple[str, str]]:
    """(id, display name) of every contact folder a user made below `parent_id`.

    Exchange keeps its own contact folders under Contacts too, with a more specific class:
    Recipient Cache (`IPF.Contact.RecipientCache`, every address the user wrote to), GAL
    Contacts, Organizational Contacts, the Skype/Lync lists (`IPF.Contact.MOC.*`). Those are
    not the user's contacts and are not imported; a user's folder has `IPF.Contact`."""
    return [
        (folder.id, folder.name or "")
        for folder in folders_below(account, parent_id, ("name", "folder_class"))
        if (folder.folder_class or CONTACT_FOLDER_CLASS) == CONTACT_FOLDER_CLASS
    ]


def inbox_mail_folders(account: Account, *, limit: int) -> list[ListedFolder]:
    """Every mail folder below the Inbox, with its path ("Projects / Acme"), by path."""
    found = folders_below(account, "inbox", ("name", "folder_class", "parent_folder_id"))
    by_id = {folder.id: folder for folder in found}
    listed = [
        ListedFolder(folder.id, folder.name or "", _path(folder, by_id))
        for folder in by_id.values()
        if (folder.folder_class or MAIL_FOLDER_CLASS).startswith(MAIL_FOLDER_CLASS)
    ]
    listed.sort(key=lambda f: (f.path.casefold(), f.id))
    return listed[:limit]


def list_inbox_folders(mailbox: Mailbox, *, limit: int) -> list[ListedFolder]:
    """The `FolderLister` over EWS."""
    return inbox_mail_folders(account_for(mailbox), limit=limit)


def contact_folders(account: Account, *, limit: int) -> list[ListedFolder]:
    """The Contacts folder, then every contact folder a user made below it (the class
    `IPF.Contact`, as `contact_folders_below`) with its path ("Contacts / Suppliers"), by
    path: what a contact import's selected folders are picked from."""
    found = folders_below(account, "contacts", ("name", "folder_class", "parent_folder_id"))
    by_id = {folder.id: folder for folder in found}
    listed = [
        ListedFolder(
            folder.id,
            folder.name or "",
            f"{CONTACTS.path}{PATH_SEPARATOR}{_path(folder, by_id)}",
        )
        for folder in by_id.values()
        if (folder.folder_class or CONTACT_FOLDER_CLASS) == CONTACT_FOLDER_CLASS
    ]
    listed.sort(key=lambda f: (f.path.casefold(), f.id))
    return [CONTACTS, *listed][:limit]


def list_contact_folders(mailbox: Mailbox, *, limit: int) -> list[ListedFolder]:
    """The contact `FolderLister` over EWS."""
    return contact_folders(account_for(mailbox), limit=limit)


def _path(folder: Any, by_id: dict[str, Any]) -> str:
    """The names from the Inbox's child down to the folder: "Projects / Acme"."""
    names = [folder.name or ""]
    seen = {folder.id}
    parent = by_id.get(_parent_id(folder))
    # The Inbox itself is not in `by_id`, so the walk stops below it; `seen` guards a cycle.
    while parent is not None and parent.id not in seen:
        seen.add(parent.id)
        names.append(parent.name or "")
        parent = by_id.get(_parent_id(parent))
    return PATH_SEPARATOR.join(reversed(names))


def _parent_id(folder: Any) -> str:
    return str(getattr(folder.parent_folder_id, "id", None) or "")
