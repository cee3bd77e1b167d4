"""A connection to a mail server as a context manager, the same for every protocol:
`connect()` on entry, `end(failed=)` on exit. A sender over a connection held elsewhere
(an EWS account, a Graph client) keeps both as they are here: there is nothing to open."""

from __future__ import annotations

from types import TracebackType
from typing import Self


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
