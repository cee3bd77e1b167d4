"""exchangelib's exceptions turned into the connector error types.

exchangelib runs with the `FailFast` retry policy, so every server complaint reaches us at
once as an exception; this module is where it is classified. The table lists permanent
conditions; any other transport-level failure is transient.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator

import requests
from exchangelib import errors as ews
from exchangelib.protocol import FailFast

from mailboxes.connectors import (
    ErrorKind,
    PermanentSyncError,
    SyncError,
    TransientSyncError,
    network_code,
)
from mailboxes.connectors.base import (
    CursorLostError,
    FolderNotFoundError,
    ItemConflictError,
    ItemNotFoundError,
)

logger = logging.getLogger(__name__)


# A refused SyncFolderItems state (ErrorInvalidSyncStateData) is the seam's lost cursor.
InvalidSyncStateError = CursorLostError


# Failures that concern the whole mailbox connection and that retrying cannot fix.
_AUTH = ErrorKind.AUTHENTICATION
_PERMANENT_MAILBOX: tuple[tuple[type[Exception], str, ErrorKind], ...] = (
    (ews.UnauthorizedError, "authentication_failed", _AUTH),
    (ews.ErrorNonExistentMailbox, "ErrorNonExistentMailbox", ErrorKind.MAILBOX_NOT_FOUND),
    (ews.ErrorAccessDenied, "ErrorAccessDenied", _AUTH),
    (ews.ErrorImpersonateUserDenied, "ErrorImpersonateUserDenied", _AUTH),
    (ews.ErrorImpersonationDenied, "ErrorImpersonationDenied", _AUTH),
    (ews.ErrorAccountDisabled, "ErrorAccountDisabled", _AUTH),
    (ews.ErrorNotDelegate, "ErrorNotDelegate", _AUTH),
    (ews.ErrorInvalidLicense, "ErrorInvalidLicense", ErrorKind.CONFIGURATION),
    (ews.ErrorMailboxLogonFailed, "ErrorMailboxLogonFailed", _AUTH),
    (ews.ErrorInvalidServerVersion, "ErrorInvalidServerVersion", ErrorKind.CONFIGURATION),
    (ews.AutoDiscoverFailed, "autodiscover_failed", ErrorKind.CONFIGURATION),
    (ews.RedirectError, "unexpected_redirect", ErrorKind.CONFIGURATION),
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
        return CursorLostError(text, code="ErrorInvalidSyncStateData")
    if isinstance(exc, ews.ErrorIrresolvableConflict):
        return ItemConflictError(text, code="ErrorIrresolvableConflict")
    if isinstance(exc, ews.ErrorItemNotFound):
        return ItemNotFoundError(text, code="ErrorItemNotFound")
    if isinstance(exc, ews.ErrorFolderNotFound):
        return FolderNotFoundError(text, code="ErrorFolderNotFound")
    for exc_type, code, kind in _PERMANENT_MAILBOX:
        if isinstance(exc, exc_type):
            return PermanentSyncError(text, code=code, kind=kind)
    # exchangelib re-raises transport failures as other exceptions (a refused connection
    # as ErrorTimeoutExpired, an HTTP 500 as ErrorServerBusy with its own 10 s wait): look
    # at what it re-raised first.
    chain = _chain(exc)
    network = [e for e in chain if isinstance(e, requests.RequestException | OSError)]
    if network:
        return TransientSyncError(text, code=network_code(network[0]), kind=ErrorKind.NETWORK)
    if any(
        isinstance(e, ews.ErrorInternalServerTransientError | ews.ErrorInternalServerError)
        for e in chain
    ):
        return TransientSyncError(text, code="server_error", kind=ErrorKind.SERVER)
    if isinstance(exc, ews.ErrorServerBusy):
        return TransientSyncError(
            text, code="ErrorServerBusy", retry_after=exc.back_off, kind=ErrorKind.THROTTLED
        )
    if isinstance(exc, ews.RateLimitError):
        return TransientSyncError(
            text, code="RateLimitError", retry_after=exc.wait, kind=ErrorKind.THROTTLED
        )
    if isinstance(exc, ews.ErrorTimeoutExpired):
        return TransientSyncError(text, code="timeout", kind=ErrorKind.NETWORK)
    if isinstance(exc, _TRANSIENT):
        return TransientSyncError(text, code=type(exc).__name__, kind=ErrorKind.SERVER)
    if isinstance(exc, ews.SOAPError | ews.MalformedResponseError):
        # An answer that is not EWS: the server's (or a proxy's) problem. The raw answer is
        # in the message; keep it out of the error text and in the debug log.
        logger.debug("unreadable EWS answer: %s", exc)
        return TransientSyncError(
            f"{type(exc).__name__}: the server's answer is not a valid EWS response",
            code="protocol_error",
            kind=ErrorKind.PROTOCOL,
        )
    if isinstance(exc, ews.TransportError):
        # A TLS failure (exchangelib keeps only its text) or another transport failure.
        return TransientSyncError(text, code=network_code(exc), kind=ErrorKind.NETWORK)
    if isinstance(exc, requests.RequestException | socket.timeout | ConnectionError):
        return TransientSyncError(text, code=network_code(exc), kind=ErrorKind.NETWORK)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exceptions `exc` was raised from or while handling (not `exc` itself)."""
    chain: list[BaseException] = []
    seen = {id(exc)}
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class FailFastWithHints(FailFast):
    """exchangelib's `FailFast`, reading what it leaves out of HTTP answers.

    HTTP 429 and 503 carry the server's wait in `Retry-After` (exchangelib's `FailFast`
    drops it, its `FaultTolerance` would sleep on it in the worker); HTTP 403 is a refusal
    of access (exchangelib reports it as a malformed response).
    """

    def raise_response_errors(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 403:
            raise ews.ErrorAccessDenied(f"HTTP 403 Forbidden from {response.url}")
        if status in (429, 503):
            retry_after = _retry_after(response)
            if status == 429 or retry_after:
                raise ews.ErrorServerBusy(
                    f"HTTP {status} from {response.url}", back_off=retry_after or None
                )
        super().raise_response_errors(response)


def _retry_after(response: requests.Response) -> int | None:
    """`Retry-After` in seconds (the HTTP-date form is not used by Exchange)."""
    try:
        seconds = int(response.headers.get("Retry-After", "0"))
    except ValueError:
        return None
    return seconds if seconds > 0 else None


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
