"""The EWS connector: the one seam between crmsync and Exchange (through exchangelib).

    account = account_for(mailbox)          # configured, pooled per profile, never sleeps
    with exchange_errors():                  # exchangelib failures → connector error types
        ...

Errors: `TransientSyncError(retry_after=...)`, `PermanentSyncError` (from
`mailboxes.connectors`), and the seam's `ItemConflictError`, `ItemNotFoundError`,
`FolderNotFoundError` and `CursorLostError` (`mailboxes/connectors/base.py`;
`InvalidSyncStateError` is its EWS name). `connector.EwsMailboxConnector` is the
appointments/contacts/tasks seam implemented over the modules of this package.
"""

from mailboxes.connectors.ews.account import (
    Account,
    account_for,
    account_from_settings,
    forget_connections,
)
from mailboxes.connectors.ews.errors import (
    FolderNotFoundError,
    InvalidSyncStateError,
    ItemConflictError,
    ItemNotFoundError,
    classify,
    exchange_errors,
    raise_if_error,
)

__all__ = [
    "Account",
    "FolderNotFoundError",
    "InvalidSyncStateError",
    "ItemConflictError",
    "ItemNotFoundError",
    "account_for",
    "account_from_settings",
    "classify",
    "exchange_errors",
    "forget_connections",
    "raise_if_error",
]
