"""Connectors: the only code that talks to mail servers, one package or module per protocol.

A connector turns a protocol's failures into the two error types below, so that the engine
decides what to do from the type alone: a transient error postpones the mailbox (by the
server's hint when it gave one), a permanent error stops it until a person acts.

`mailboxes.sync.errors` re-exports these classes; the engine and the email code import them
from there. `settings.py` is the one place that turns (profile, mailbox) into the connection
settings of every protocol (`ews_settings`, `pop3_settings`, `imap_settings`, `smtp_settings`).
"""

from __future__ import annotations


class SyncError(Exception):
    """A failure talking to a mail server, classified for the scheduler.

    `code` is a short machine-readable name (an EWS response code such as
    `ErrorServerBusy`, or our own such as `authentication_failed`), stored in the mailbox's
    `last_error_code`.
    """

    permanent: bool = False

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code or type(self).__name__

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class TransientSyncError(SyncError):
    """Try again later: server busy or throttled, timeout, connection reset, HTTP 5xx.

    `retry_after` is the server's back-off hint in seconds (EWS `BackOffMilliseconds`), or
    None when the server gave none and the scheduler's own exponential back-off applies.
    """

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentSyncError(SyncError):
    """Retrying cannot help: wrong password, mailbox not found, access denied.

    `affects_mailbox` says the failure concerns the connection to the mailbox as a whole (so
    every channel using that server stops), rather than one operation or one item.
    """

    permanent = True

    def __init__(self, message: str, *, code: str = "", affects_mailbox: bool = True) -> None:
        super().__init__(message, code=code)
        self.affects_mailbox = affects_mailbox


__all__ = ["PermanentSyncError", "SyncError", "TransientSyncError"]
