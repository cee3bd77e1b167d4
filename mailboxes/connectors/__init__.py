"""Connectors: the only code that talks to mail servers, one package or module per protocol.

A connector turns a protocol's failures into the two error types below, each with a `kind`
from one taxonomy (`ErrorKind`), so that the engine decides what to do from the error alone:
a transient error postpones the mailbox (by the server's hint when it gave one), a permanent
error stops it until a person acts.

`mailboxes.sync.errors` re-exports these classes; the engine and the email code import them
from there. `settings.py` is the one place that turns (profile, mailbox) into the connection
settings of every protocol (`ews_settings`, `pop3_settings`, `imap_settings`, `smtp_settings`).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from enum import StrEnum


class ErrorKind(StrEnum):
    """What went wrong, the same for every protocol; the engine acts on it (see the README)."""

    # Permanent: the server refused our credentials or our access (wrong or changed
    # password, access or impersonation denied, account disabled). No retry until the
    # credentials are saved again or Test & enable passes.
    AUTHENTICATION = "authentication"
    # Permanent: the server has no such mailbox.
    MAILBOX_NOT_FOUND = "mailbox_not_found"
    # Permanent: settings that cannot work (no credentials, unsupported method, a redirect).
    CONFIGURATION = "configuration"
    # Permanent for one operation or item only (a message refused, a folder gone).
    REFUSED = "refused"
    # Transient: the server asked us to slow down; postpone by its hint.
    THROTTLED = "throttled"
    # Transient: connection refused, DNS, TLS, timeout, connection dropped.
    NETWORK = "network"
    # Transient: the server failed (HTTP 5xx, a temporary refusal).
    SERVER = "server"
    # Transient: an answer we cannot read (not XML, not the protocol); counted, kept in
    # the log at debug level.
    PROTOCOL = "protocol"
    # Transient: the CRM's own database dropped the connection or could not be reached (a
    # restart, a failover, a killed backend). Not the mail server's fault nor a bug of ours:
    # one warning line, no alert; retried with back-off on a new connection.
    DATABASE = "database"
    # Our own bug: traceback logged once, an alert to staff; retried with back-off.
    INTERNAL = "internal"


TRANSIENT_KINDS = frozenset(
    {ErrorKind.THROTTLED, ErrorKind.NETWORK, ErrorKind.SERVER, ErrorKind.PROTOCOL}
)


class SyncError(Exception):
    """A failure talking to a mail server, classified for the scheduler.

    `code` is a short machine-readable name (an EWS response code such as
    `ErrorServerBusy`, or our own such as `authentication_failed`), stored in the mailbox's
    `last_error_code`; `kind` is its place in the taxonomy, stored in `last_error_kind`.
    """

    permanent: bool = False
    default_kind: ErrorKind = ErrorKind.SERVER

    def __init__(self, message: str, *, code: str = "", kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        self.code = code or type(self).__name__
        self.kind = kind or self.default_kind

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class TransientSyncError(SyncError):
    """Try again later: server busy or throttled, timeout, connection reset, HTTP 5xx.

    `retry_after` is the server's back-off hint in seconds (EWS `BackOffMilliseconds`, HTTP
    `Retry-After`), or None when the server gave none and the scheduler's own exponential
    back-off applies. `counts_as_failure` False: a wait nothing failed for (a mailbox whose
    request budget is spent), which postpones the mailbox without counting towards
    `CRMSYNC_MAX_TRANSIENT_FAILURES`.
    """

    counts_as_failure = True

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        retry_after: float | None = None,
        kind: ErrorKind | None = None,
    ) -> None:
        super().__init__(message, code=code, kind=kind)
        self.retry_after = retry_after


class PermanentSyncError(SyncError):
    """Retrying cannot help: wrong password, mailbox not found, access denied.

    `affects_mailbox` says the failure concerns the connection to the mailbox as a whole (so
    every channel using that server stops), rather than one operation or one item.
    """

    permanent = True

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        affects_mailbox: bool = True,
        kind: ErrorKind | None = None,
    ) -> None:
        default = ErrorKind.CONFIGURATION if affects_mailbox else ErrorKind.REFUSED
        super().__init__(message, code=code, kind=kind or default)
        self.affects_mailbox = affects_mailbox


def authentication_failed(
    message: str, *, code: str = "authentication_failed"
) -> PermanentSyncError:
    return PermanentSyncError(message, code=code, kind=ErrorKind.AUTHENTICATION)


def network_code(exc: BaseException) -> str:
    """The network failure behind `exc` (or its causes), as a short code."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = _network_code_of(current)
        if code:
            return code
        current = current.__cause__ or current.__context__
    # requests keeps the low-level reason only in its message.
    text = str(exc)
    for needle, code in _NETWORK_TEXTS:
        if needle in text:
            return code
    return "network_error"


_NETWORK_TEXTS = (
    ("Connection refused", "connection_refused"),
    ("Name or service not known", "dns_failure"),
    ("Temporary failure in name resolution", "dns_failure"),
    ("NameResolutionError", "dns_failure"),
    ("CERTIFICATE_VERIFY_FAILED", "tls_failure"),
    ("SSLError", "tls_failure"),
    ("timed out", "timeout"),
    ("RemoteDisconnected", "connection_dropped"),
    ("Connection aborted", "connection_dropped"),
    ("Connection reset", "connection_dropped"),
)


def _network_code_of(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, socket.gaierror):
        return "dns_failure"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls_failure"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(
        exc,
        ConnectionResetError
        | ConnectionAbortedError
        | BrokenPipeError
        | EOFError
        | http.client.RemoteDisconnected
        | http.client.IncompleteRead,
    ):
        return "connection_dropped"
    return ""


def network_error(what: str, exc: BaseException) -> TransientSyncError:
    """A transient network failure (refused, DNS, TLS, timeout, dropped) of `what`."""
    return TransientSyncError(f"{what}: {exc}", code=network_code(exc), kind=ErrorKind.NETWORK)


__all__ = [
    "ErrorKind",
    "PermanentSyncError",
    "SyncError",
    "TransientSyncError",
    "authentication_failed",
    "network_code",
    "network_error",
]
