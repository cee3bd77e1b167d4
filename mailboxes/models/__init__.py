"""The mailboxes app's models: `mailbox.py` (queues, mailboxes, options, id mappings),
`tracking.py` (tracking folders) and `state.py` (sync states, processed messages, alerts,
sync runs, listings)."""

from mailboxes.models.mailbox import (
    ChangeType,
    ExchangeSyncIdMapping,
    ItemType,
    ItemTypeSyncOptions,
    Mailbox,
    PendingConflict,
    PendingConflictManager,
    Queue,
)
from mailboxes.models.state import (
    Alert,
    ExchangeFolderListing,
    FolderSyncState,
    ProcessedMessage,
    SyncRun,
)
from mailboxes.models.tracking import MAX_TRACKING_FOLDERS, MailboxTrackingFolder

__all__ = [
    "MAX_TRACKING_FOLDERS",
    "Alert",
    "ChangeType",
    "ExchangeFolderListing",
    "ExchangeSyncIdMapping",
    "FolderSyncState",
    "ItemType",
    "ItemTypeSyncOptions",
    "Mailbox",
    "MailboxTrackingFolder",
    "PendingConflict",
    "PendingConflictManager",
    "ProcessedMessage",
    "Queue",
    "SyncRun",
]
