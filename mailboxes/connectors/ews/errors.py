"""exchangelib's exceptions turned into the connector error types.

exchangelib runs with the `FailFast` retry policy, so every server complaint reaches us at
once as an exception; this module is where it is classified. The table lists permanent
conditions; any other transport-level failure is transient.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import requests
from exchangelib import errors as ews

from mailboxes.connectors import PermanentSyncError, SyncError, TransientSyncError


class InvalidSyncStateError(SyncError):
    """The server no longer accepts a stored SyncFolderItems state: resync the folder."""


class ItemConflictError(SyncError):
    """An UpdateItem carried a stale change key: the item changed in Exchange meanwhile."""


class ItemNotFoundError(SyncError):
    """The item is gone from Exchange (deleted or moved since we last saw it)."""


class FolderNotFoundError(SyncError):
    """The folder is gone from Exchange (deleted since it was listed or selected)."""


# Failures that concern the whole mailbox connection and that retrying cannot fix.
_PERMANENT_MAILBOX: tuple[tuple[type[Exception], str], ...] = (
    (ews.UnauthorizedError, "authentication_failed"),
    (ews.ErrorNonExistentMailbox, "ErrorNonExistentMailbox"),
    (ews.ErrorAccessDenied, "ErrorAccessDenied"),
    (ews.ErrorImpersonateUserDenied, "ErrorImpersonateUserDenied"),
    (ews.ErrorImpersonationDenied, "ErrorImpersonationDenied"),
    (ews.ErrorAccountDisabled, "ErrorAccountDisabled"),
    (ews.ErrorNotDelegate, "ErrorNotDelegate"),
    (ews.ErrorInvalidLicense, "ErrorInvalidLicense"),
    (ews.ErrorMailboxLogonFailed, "ErrorMailboxLogonFailed"),
    (ews.ErrorInvalidServerVersion, "ErrorInvalidServerVersion"),
    (ews.AutoDiscoverFailed, "autodiscover_failed"),
    (ews.RedirectError, "unexpected_redirect"),
)

# Transient conditions that carry (or may carry) a back-off hint.
_TRANSIENT: tuple[type[Exception], ...] = (
    ews.ErrorServerBusy,
    ews.ErrorTimeoutExpired,
    ews.ErrorInternalServerTransientError,
    ews.ErrorTooManyObjectsOpened,
    ews.ErrorExceededConnectionCount,
    ews.ErrorMailboxStoreUnavailable,
    ews.ErrorMailboxMoveInProgress,
    ews.ErrorConnectionFailed,
    ews.ErrorConnectionFailedTransientError,
    ews.ErrorNoRespondingCASInDestinationSite,
    ews.RateLimitError,
)


def classify(exc: BaseException) -> SyncError | None:
    """The connector error for an exchangelib or network exception, None if it is a bug."""
    if isinstance(exc, SyncError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ews.ErrorInvalidSyncStateData):
        return InvalidSyncStateError(text, code="ErrorInvalidSyncStateData")
    if isinstance(exc, ews.ErrorIrresolvableConflict):
        return ItemConflictError(text, code="ErrorIrresolvableConflict")
    if isinstance(exc, ews.ErrorItemNotFound):
        return ItemNotFoundError(text, code="ErrorItemNotFound")
    if isinstance(exc, ews.ErrorFolderNotFound):
        return FolderNotFoundError(text, code="ErrorFolderNotFound")
    for exc_type, code in _PERMANENT_MAILBOX:
        if isinstance(exc, exc_type):
            return PermanentSyncError(text, code=code)
    if isinstance(exc, ews.ErrorServerBusy):
        return TransientSyncError(text, code="ErrorServerBusy", retry_after=exc.back_off)
    if isinstance(exc, ews.RateLimitError):
        return TransientSyncError(text, code="RateLimitError", retry_after=exc.wait)
    if isinstance(exc, _TRANSIENT):
        return TransientSyncError(text, code=type(exc).__name__)
    if isinstance(exc, ews.TransportError):
        # HTTP 5xx, a malformed answer, a TLS or connection failure: the server's problem.
        return TransientSyncError(text, code=type(exc).__name__)
    if isinstance(exc, requests.RequestException | socket.timeout | ConnectionError):
        return TransientSyncError(text, code=type(exc).__name__)
    return None


@contextlib.contextmanager
def exchange_errors() -> Iterator[None]:
    """Re-raise exchangelib and network failures as connector errors; let bugs through."""
    try:
        yield
    except SyncError:
        raise
    except Exception as exc:
        translated = classify(exc)
        if translated is None:
            raise
        raise translated from exc


def raise_if_error(result: object) -> None:
    """exchangelib returns per-item errors as exception instances in result lists."""
    if isinstance(result, BaseException):
        translated = classify(result)
        if translated is None:
            raise result
        raise translated from result
