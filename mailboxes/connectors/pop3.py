"""POP3 connector: list messages by UIDL, fetch, delete. No Django here."""

from __future__ import annotations

import logging
import poplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from mailboxes.connectors import (
    PermanentSyncError,
    TransientSyncError,
    authentication_failed,
    network_error,
)
from mailboxes.connectors.session import LoginSettings, Session, opened

_T = TypeVar("_T")
logger = logging.getLogger(__name__)

# poplib refuses lines longer than this; real servers send longer ones in broken mail.
poplib._MAXLINE = 1024 * 1024  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Pop3Message:
    number: int
    uid: str


class Pop3Settings(LoginSettings):
    """POP3 on port 995 with TLS, 110 without."""


class Pop3Connector(Session):
    """One POP3 session. Use as a context manager; `quit()` commits deletions (so a block
    that failed leaves the connection without quitting: nothing is deleted)."""

    def __init__(self, settings: Pop3Settings) -> None:
        self.settings = settings
        self._client: poplib.POP3 | None = None

    def end(self, *, failed: bool) -> None:
        if not failed:
            self.quit()
        else:
            self.abort()

    def connect(self) -> None:
        s = self.settings

        def open_client() -> poplib.POP3:
            if s.use_ssl:
                context = ssl.create_default_context()
                return poplib.POP3_SSL(s.host, s.port or 995, timeout=s.timeout, context=context)
            return poplib.POP3(s.host, s.port or 110, timeout=s.timeout)

        client = opened("POP3", s.host, poplib.error_proto, open_client)
        try:
            client.user(s.username)
            client.pass_(s.password)
        except poplib.error_proto as exc:
            client.close()
            text = _text(exc)
            if "[IN-USE]" in text or "[SYS/TEMP]" in text:
                raise TransientSyncError(
                    f"POP3 mailbox busy: {text}", code="mail_server_unavailable"
                ) from exc
            raise authentication_failed(f"POP3 login refused: {text}") from exc
        except OSError as exc:
            client.close()
            raise network_error("POP3 login failed", exc) from exc
        self._client = client

    @property
    def client(self) -> poplib.POP3:
        if self._client is None:
            raise TransientSyncError("POP3 session is not open", code="mail_server_unavailable")
        return self._client

    def list_messages(self) -> list[Pop3Message]:
        """Every message on the server with its unique id (UIDL)."""
        try:
            _resp, lines, _octets = self.client.uidl()
        except poplib.error_proto as exc:
            raise PermanentSyncError(
                f"POP3 UIDL failed: {_text(exc)}", code="mail_server_refused", affects_mailbox=False
            ) from exc
        except OSError as exc:
            raise TransientSyncError(
                f"POP3 UIDL failed: {exc}", code="mail_server_unavailable"
            ) from exc
        messages = []
        for line in lines:
            parts = line.decode("ascii", "replace").split()
            if len(parts) >= 2:
                messages.append(Pop3Message(int(parts[0]), parts[1]))
        return messages

    def fetch(self, number: int) -> bytes:
        _resp, lines, _octets = _transient(f"POP3 RETR {number}", self.client.retr, number)
        # poplib has already undone the dot-stuffing; lines lost their CRLF.
        return b"\r\n".join(lines) + b"\r\n"

    def delete(self, number: int) -> None:
        _transient(f"POP3 DELE {number}", self.client.dele, number)

    def quit(self) -> None:
        if self._client is None:
            return
        try:
            self._client.quit()
        except (OSError, poplib.error_proto) as exc:
            # QUIT is what commits DELE: a failure means the deletions did not happen.
            raise TransientSyncError(
                f"POP3 QUIT failed: {exc}", code="mail_server_unavailable"
            ) from exc
        finally:
            self._client = None

    def abort(self) -> None:
        """Close without QUIT, so that no deletion of this session takes effect."""
        if self._client is not None:
            try:
                self._client.close()
            except OSError:
                logger.debug("closing the POP3 socket failed", exc_info=True)
            self._client = None


@contextmanager
def pop3_session(settings: Pop3Settings) -> Iterator[Pop3Connector]:
    with Pop3Connector(settings) as connector:
        yield connector


def _transient(label: str, command: Callable[[int], _T], number: int) -> _T:
    """One command on a message; any failure is transient (the next cycle tries again)."""
    try:
        return command(number)
    except poplib.error_proto as exc:
        raise TransientSyncError(
            f"{label} failed: {_text(exc)}", code="mail_server_unavailable"
        ) from exc
    except OSError as exc:
        raise TransientSyncError(f"{label} failed: {exc}", code="mail_server_unavailable") from exc


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    return str(arg)
