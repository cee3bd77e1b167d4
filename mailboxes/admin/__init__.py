"""Admin screens of the mailboxes app, one module per group of models."""

from mailboxes.admin import (
    alerts,
    conflicts,
    folder_listings,
    graph_subscriptions,
    mailbox,
    sync_records,
)

__all__ = [
    "alerts",
    "conflicts",
    "folder_listings",
    "graph_subscriptions",
    "mailbox",
    "sync_records",
]
