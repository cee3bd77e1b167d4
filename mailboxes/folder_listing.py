"""The mail folders under a mailbox's Inbox, and its contact folders, listed from Exchange on
a worker and stored.

The self-service page offers the stored list when a person adds a tracking folder (email
moved into a tracking folder is tracked, and tracking folders live under the Inbox); the
mailbox forms (self-service and admin) offer the contact folders when a contact import takes
selected folders. The page only asks for a refresh; the `list_exchange_folders` task calls
`refresh_folder_listing`, which lists them through the `FolderLister` of the mailbox's
protocol (`connectors/registry.py`: EWS or Graph; POP3/IMAP mailboxes have none).
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from django.utils import timezone

from mailboxes.connectors import PermanentSyncError, SyncError, registry
from mailboxes.connectors.mail_base import ListedFolder
from mailboxes.models import ExchangeFolderListing, Mailbox
from mailboxes.sync import eligibility

logger = logging.getLogger(__name__)

# A mailbox with more folders than this under its Inbox gets the first ones by path.
MAX_LISTED_FOLDERS = 1000


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
        folders = list_inbox_folders(mailbox)
        contacts = _contact_folders_or_none(mailbox)
    except SyncError as exc:
        logger.info("mailbox %s: folder listing failed: %s", mailbox_id, exc.code)
        ExchangeFolderListing.objects.update_or_create(
            mailbox=mailbox,
            defaults={"error_text": exc.message[:2000], "error_at": timezone.now()},
        )
        return "failed"
    listed: dict[str, object] = {"folders": [asdict(folder) for folder in folders]}
    if contacts is not None:
        listed["contact_folders"] = [asdict(folder) for folder in contacts]
    ExchangeFolderListing.objects.update_or_create(
        mailbox=mailbox,
        defaults={
            **listed,
            "listed_at": timezone.now(),
            "error_text": "",
            "error_at": None,
        },
    )
    logger.info("mailbox %s: listed %s folders under the inbox", mailbox_id, len(folders))
    return "listed"


def _contact_folders_or_none(mailbox: Mailbox) -> list[ListedFolder] | None:
    """A user's contact folders; None when they could not be listed (the last list is
    kept: a mailbox whose application may not read contacts still lists its mail folders)."""
    if mailbox.queue_id is not None:
        return []  # a queue has no contacts of its own
    try:
        return list_contact_folders(mailbox)
    except SyncError as exc:
        logger.info("mailbox %s: contact folders not listed: %s", mailbox.pk, exc.code)
        return None


def list_contact_folders(mailbox: Mailbox) -> list[ListedFolder]:
    """Contacts and the contact folders below it, by its protocol's contact lister."""
    return registry.contact_folder_lister(mailbox)(mailbox, limit=MAX_LISTED_FOLDERS)


def list_inbox_folders(mailbox: Mailbox) -> list[ListedFolder]:
    """The mail folders below the mailbox's Inbox, by its protocol's `FolderLister`."""
    return registry.folder_lister(mailbox)(mailbox, limit=MAX_LISTED_FOLDERS)
