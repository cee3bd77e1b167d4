"""Admin screens of the mailboxes app, one module per group of models."""

from mailboxes.admin import alerts, mailbox, sync_records

__all__ = ["alerts", "mailbox", "sync_records"]
