"""The mailboxes app's models: `mailbox.py` (queues, mailboxes, options, tracking folders,
id mappings) and `state.py` (sync states, processed messages, alerts, sync runs, listings)."""

from mailboxes.models.mailbox import (
    MAX_TRACKING_FOLDERS,
    ChangeType,
    ExchangeSyncIdMapping,
    ItemType,
    ItemTypeSyncOptions,
    Mailbox,
    MailboxTrackingFolder,
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
