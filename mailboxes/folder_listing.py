"""The mail folders under a mailbox's Inbox, listed from Exchange on a worker and stored.

The self-service page offers the stored list when a person adds a tracking folder (email
moved into a tracking folder is tracked, and tracking folders live under the Inbox). The
page only asks for a refresh; the `list_exchange_folders` task calls
`refresh_folder_listing`, which talks to Exchange through the EWS connector.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.utils import timezone
from exchangelib import Account
from exchangelib.fields import FieldPath
from exchangelib.folders import Folder, FolderCollection
from exchangelib.items import ID_ONLY

from mailboxes.connectors import PermanentSyncError, SyncError
from mailboxes.connectors.ews import account_for, exchange_errors, raise_if_error
from mailboxes.connectors.ews.folders import open_folder
from mailboxes.models import ExchangeFolderListing, Mailbox
from mailboxes.sync import eligibility

logger = logging.getLogger(__name__)

PATH_SEPARATOR = " / "
# Calendars, contact and task folders can sit under the Inbox too; only mail is tracked.
MAIL_FOLDER_CLASS = "IPF.Note"
# A mailbox with more folders than this under its Inbox gets the first ones by path.
MAX_LISTED_FOLDERS = 1000


@dataclass(frozen=True)
class ListedFolder:
    id: str
    name: str
    path: str


def inbox_mail_folders(account: Account) -> list[ListedFolder]:
    """Every mail folder below the Inbox (one deep FindFolder), sorted by path."""
    inbox = open_folder(account, "inbox")
    fields = {
        FieldPath(field=Folder.get_field_by_fieldname(name))
        for name in ("name", "folder_class", "parent_folder_id")
    }
    with exchange_errors():
        found = list(
            FolderCollection(account=account, folders=[inbox]).find_folders(
                shape=ID_ONLY, depth="Deep", additional_fields=fields
            )
        )
    by_id: dict[str, Any] = {}
    for folder in found:
        raise_if_error(folder)
        by_id[folder.id] = folder
    listed = []
    for folder in by_id.values():
        folder_class = folder.folder_class or MAIL_FOLDER_CLASS
        if not folder_class.startswith(MAIL_FOLDER_CLASS):
            continue
        listed.append(ListedFolder(folder.id, folder.name or "", _path(folder, by_id)))
    listed.sort(key=lambda f: (f.path.casefold(), f.id))
    return listed[:MAX_LISTED_FOLDERS]


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


def refresh_folder_listing(mailbox_id: int) -> str:
    """List the mailbox's folders under the Inbox and store them; "listed", "failed", "gone".

    A failure is stored for the page to show in plain words; the last good list is kept.
    """
    mailbox = Mailbox.objects.select_related("profile").filter(id=mailbox_id).first()
    if mailbox is None:
        logger.info("mailbox %s is gone; no folders to list", mailbox_id)
        return "gone"
    try:
        refused = eligibility.refusal(mailbox)
        if refused:
            raise PermanentSyncError(f"Folders not listed: {refused}", code="not_allowed")
        if mailbox.profile is None or not mailbox.profile.is_exchange:
            raise PermanentSyncError(
                "Folders can be listed on Exchange mailboxes only.", code="not_exchange"
            )
        folders = inbox_mail_folders(account_for(mailbox))
    except SyncError as exc:
        logger.info("mailbox %s: folder listing failed: %s", mailbox_id, exc.code)
        ExchangeFolderListing.objects.update_or_create(
            mailbox=mailbox,
            defaults={"error_text": exc.message[:2000], "error_at": timezone.now()},
        )
        return "failed"
    ExchangeFolderListing.objects.update_or_create(
        mailbox=mailbox,
        defaults={
            "folders": [asdict(folder) for folder in folders],
            "listed_at": timezone.now(),
            "error_text": "",
            "error_at": None,
        },
    )
    logger.info("mailbox %s: listed %s folders under the inbox", mailbox_id, len(folders))
    return "listed"
