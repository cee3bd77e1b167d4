"""Push: an EWS streaming subscription on some folders of a mailbox (`listen`, the
`PushListener` over EWS)."""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

from exchangelib import Account
from exchangelib.folders import FolderCollection

from mailboxes.connectors.ews.account import account_for
from mailboxes.connectors.ews.errors import exchange_errors
from mailboxes.connectors.ews.folders import open_folder

if TYPE_CHECKING:
    from mailboxes.channels import Channel
    from mailboxes.models import Mailbox

logger = logging.getLogger(__name__)


def listen(
    mailbox: Mailbox, channels: Sequence[Channel], *, connection_minutes: int
) -> Generator[set[str], None, None]:
    """The `PushListener` over EWS: the folders these channels read, streamed."""
    folders = [folder for channel in channels for folder in channel.ews_folders]
    return streamed_changes(account_for(mailbox), folders, connection_minutes=connection_minutes)


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
