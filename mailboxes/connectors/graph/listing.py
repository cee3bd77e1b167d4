"""The mail folders below a mailbox's Inbox over Graph, with their paths, level by level
(`mailFolders/inbox/childFolders`, then `childFolders` of each folder that has any): what a
tracking folder is chosen from. Folder ids are Graph's; they do not change when a folder is
moved or renamed (immutable ids apply to items: containers' ids are already constant,
https://learn.microsoft.com/graph/outlook-immutable-id)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.mail_base import CONTACTS_FOLDER as CONTACTS
from mailboxes.connectors.mail_base import PATH_SEPARATOR, ListedFolder
from mailboxes.connectors.settings import graph_settings

if TYPE_CHECKING:
    from mailboxes.models import Mailbox

SELECT = "id,displayName,childFolderCount"
PAGE = "100"


def inbox_mail_folders(client: GraphClient, *, limit: int) -> list[ListedFolder]:
    """Every mail folder below the Inbox, with its path ("Projects / Acme"), by path.

    `mailFolders` lists mail folders only (a calendar or contact folder below the Inbox is
    not one), as the EWS listing keeps `IPF.Note` folders only."""
    found: list[ListedFolder] = []
    level: list[tuple[str, str]] = [("inbox", "")]
    while level and len(found) < limit:
        below: list[tuple[str, str]] = []
        for parent, parent_path in level:
            params = {"$select": SELECT, "$top": PAGE}
            for entry in client.items(f"mailFolders/{parent}/childFolders", params=params):
                name = str(entry.get("displayName") or "")
                path = f"{parent_path}{PATH_SEPARATOR}{name}" if parent_path else name
                found.append(ListedFolder(str(entry["id"]), name, path))
                if int(entry.get("childFolderCount") or 0) > 0:
                    below.append((str(entry["id"]), path))
        level = below
    found.sort(key=lambda f: (f.path.casefold(), f.id))
    return found[:limit]


def list_inbox_folders(mailbox: Mailbox, *, limit: int) -> list[ListedFolder]:
    """The `FolderLister` over Graph."""
    return inbox_mail_folders(GraphClient(graph_settings(None, mailbox)), limit=limit)


def contact_folders(client: GraphClient, *, limit: int) -> list[ListedFolder]:
    """The Contacts folder (`contacts`, as the sync names it), then every contact folder
    below it with its path ("Contacts / Suppliers"), by path, level by level
    (`contactFolders` lists those in Contacts, `contactFolders/{id}/childFolders` those
    below; a contact folder tells no child count)."""
    found: list[ListedFolder] = []
    level: list[tuple[str, str]] = [(CONTACTS.id, CONTACTS.path)]
    while level and len(found) < limit:
        below: list[tuple[str, str]] = []
        for parent, parent_path in level:
            path = (
                "contactFolders"
                if parent == CONTACTS.id
                else f"contactFolders/{parent}/childFolders"
            )
            params = {"$select": "id,displayName", "$top": PAGE}
            for entry in client.items(path, params=params):
                name = str(entry.get("displayName") or "")
                folder_path = f"{parent_path}{PATH_SEPARATOR}{name}"
                found.append(ListedFolder(str(entry["id"]), name, folder_path))
                below.append((str(entry["id"]), folder_path))
        level = below
    found.sort(key=lambda f: (f.path.casefold(), f.id))
    return [CONTACTS, *found][:limit]


def list_contact_folders(mailbox: Mailbox, *, limit: int) -> list[ListedFolder]:
    """The contact `FolderLister` over Graph."""
    return contact_folders(GraphClient(graph_settings(None, mailbox)), limit=limit)
