"""Push: an EWS streaming subscription on some folders of a mailbox."""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence

from exchangelib import Account
from exchangelib.folders import FolderCollection

from mailboxes.connectors.ews.errors import exchange_errors
from mailboxes.connectors.ews.folders import open_folder

logger = logging.getLogger(__name__)


def streamed_changes(
    account: Account, folder_ids: Sequence[str], *, connection_minutes: int
) -> Generator[set[str], None, None]:
    """Subscribe to these folders and yield the kinds of events of each notification
    ("CreatedEvent", "ModifiedEvent", ...; "StatusEvent" alone is a keep-alive) until the
    connection ends after `connection_minutes` (EWS allows 1 to 30)."""
    folders = FolderCollection(
        account=account, folders=[open_folder(account, f) for f in folder_ids]
    )
    with exchange_errors():
        subscription_id = folders.subscribe_to_streaming()
        logger.info("streaming subscription open on %s folders", len(folder_ids))
        reader = open_folder(account, folder_ids[0])
        for notification in reader.get_streaming_events(
            subscription_id, connection_timeout=connection_minutes
        ):
            yield {type(event).__name__ for event in notification.events}
