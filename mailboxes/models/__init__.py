"""The mailboxes app's models: `mailbox.py` (queues, mailboxes, options, id mappings),
`tracking.py` (tracking folders), `state.py` (sync states, processed messages, alerts, sync
runs, listings) and `graph.py` (Microsoft Graph change-notification subscriptions)."""

from mailboxes.models.graph import GraphSubscription
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
    "GraphSubscription",
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
