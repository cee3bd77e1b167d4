"""The engine's error types (defined beside the connectors, which raise them).

- `TransientSyncError(message, code=..., retry_after=seconds | None)`: postpone the channel,
  by the server's hint when there is one, else by exponential back-off with jitter.
- `PermanentSyncError(message, code=..., affects_mailbox=True)`: fail the channel (every
  channel of the mailbox when `affects_mailbox`), raise an Alert, wait for a person.
"""

from mailboxes.connectors import PermanentSyncError, SyncError, TransientSyncError

__all__ = ["PermanentSyncError", "SyncError", "TransientSyncError"]
