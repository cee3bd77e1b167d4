"""The mail folders under a mailbox's Inbox, listed from Exchange on a worker and stored.

The self-service page offers the stored list when a person adds a tracking folder (email
moved into a tracking folder is tracked, and tracking folders live under the Inbox). The
page only asks for a refresh; the `list_exchange_folders` task calls
`refresh_folder_listing`, which talks to Exchange through the EWS connector, or to
Microsoft 365 through the Graph connector.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from django.utils import timezone

from mailboxes.connectors import PermanentSyncError, SyncError
from mailboxes.connectors.ews import account_for
from mailboxes.connectors.ews.listing import inbox_mail_folders
from mailboxes.connectors.graph import listing as graph_listing
from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.mail_base import ListedFolder
from mailboxes.connectors.settings import graph_settings
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


def list_inbox_folders(mailbox: Mailbox) -> list[ListedFolder]:
    """The mail folders below the mailbox's Inbox, over EWS or Graph by its profile."""
    profile = mailbox.profile
    if profile is not None and profile.is_graph:
        client = GraphClient(graph_settings(profile, mailbox))
        return graph_listing.inbox_mail_folders(client, limit=MAX_LISTED_FOLDERS)
    if profile is None or not profile.is_exchange:
        raise PermanentSyncError(
            "Folders can be listed on Exchange and Microsoft 365 mailboxes only.",
            code="not_exchange",
        )
    return inbox_mail_folders(account_for(mailbox), limit=MAX_LISTED_FOLDERS)
