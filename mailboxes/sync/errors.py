"""The engine's error types (defined beside the connectors, which raise them).

- `TransientSyncError(message, code=..., retry_after=seconds | None)`: postpone the channel,
  by the server's hint when there is one, else by exponential back-off with jitter.
- `PermanentSyncError(message, code=..., affects_mailbox=True)`: fail the channel (every
  channel of the mailbox when `affects_mailbox`), raise an Alert, wait for a person.
- `ErrorKind`: the taxonomy both carry as `kind` (authentication, mailbox not found,
  throttled, network, server, protocol, internal, ...).
"""

from mailboxes.connectors import ErrorKind, PermanentSyncError, SyncError, TransientSyncError

__all__ = ["ErrorKind", "PermanentSyncError", "SyncError", "TransientSyncError"]
