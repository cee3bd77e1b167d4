"""A connection to a mail server as a context manager, the same for every protocol:
`connect()` on entry, `end(failed=)` on exit. A sender over a connection held elsewhere
(an EWS account, a Graph client) keeps both as they are here: there is nothing to open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeVar

from mailboxes.connectors import TransientSyncError, network_error

_Client = TypeVar("_Client")


@dataclass(frozen=True)
class LoginSettings:
    """A login to an incoming mail server (POP3, IMAP): TLS from the first byte, or none."""

    host: str
    port: int | None
    username: str
    password: str = field(repr=False)
    use_ssl: bool = True
    timeout: float = 60.0


def opened(
    protocol: str,
    host: str,
    protocol_error: type[Exception] | tuple[type[Exception], ...],
    open_client: Callable[[], _Client],
) -> _Client:
    """A protocol client connected to `host`: a network failure, or a greeting the client
    cannot read, is transient."""
    try:
        return open_client()
    except OSError as exc:
        raise network_error(f"{protocol} connection to {host} failed", exc) from exc
    except protocol_error as exc:
        raise TransientSyncError(
            f"{protocol} connection to {host} failed: {exc}", code="mail_server_unavailable"
        ) from exc


class Session:
    def connect(self) -> None:
        """Connect and log in."""

    def end(self, *, failed: bool) -> None:
        """Log out or close; `failed`: the block ended by an exception."""

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end(failed=exc_type is not None)
