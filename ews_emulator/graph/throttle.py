"""Graph's throttling, fault injection and counters for one emulator process.

Outlook resources allow at most 4 concurrent requests per application per mailbox and a
budget of requests per application per mailbox (10,000 per 10 minutes), answering
`429` with `Retry-After` beyond them
(https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
Faults are rows of the store's `faults` table whose kind starts with `graph_` and whose
operation is `graph` (any Graph request) or `graph:TEXT` (requests whose path contains TEXT).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import GraphError

GRAPH_FAULTS = (
    "graph_400",
    "graph_429",
    "graph_503",
    "graph_410",
    "graph_401",
    "graph_delay",
    "graph_drop_notification",
)


class Limits:
    """Concurrency and rate limits per (application, mailbox), with counters."""

    def __init__(self, concurrency: int = 4, rate: int = 10_000, window: float = 600.0) -> None:
        self.concurrency = concurrency
        self.rate = rate
        self.window = window
        self.lock = threading.Lock()
        self.active: dict[tuple[str, str], int] = defaultdict(int)
        self.history: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.requests: dict[str, int] = defaultdict(int)
        self.high_water: dict[str, int] = defaultdict(int)
        self.throttled: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def slot(self, client_id: str, mailbox: str) -> Iterator[None]:
        key = (client_id.lower(), mailbox.lower())
        with self.lock:
            self.requests[key[1]] += 1
            if self.active[key] >= self.concurrency:
                self.throttled[key[1]] += 1
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            now = time.monotonic()
            history = self.history[key]
            while history and history[0] <= now - self.window:
                history.popleft()
            if len(history) >= self.rate:
                self.throttled[key[1]] += 1
                wait = max(1, math.ceil(history[0] + self.window - now))
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxRequests limit.",
                    {"Retry-After": str(wait)},
                )
            history.append(now)
            self.active[key] += 1
            level = sum(v for (_, m), v in self.active.items() if m == key[1])
            self.high_water[key[1]] = max(self.high_water[key[1]], level)
        try:
            yield
        finally:
            with self.lock:
                self.active[key] -= 1

    def counters(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "concurrency_high_water": dict(self.high_water),
                "throttled": dict(self.throttled),
                "limits": {
                    "concurrency": self.concurrency,
                    "rate": self.rate,
                    "window_s": self.window,
                },
            }

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.high_water.clear()
            self.throttled.clear()
            self.history.clear()


_LOCK = threading.Lock()
T = TypeVar("T")


def attached(server: Any, name: str, make: Callable[[], T]) -> T:
    """The per-process object `name` of the server (Graph's state), made on first use."""
    found = getattr(server, name, None)
    if found is None:
        with _LOCK:
            found = getattr(server, name, None)
            if found is None:
                found = make()
                setattr(server, name, found)
    return found


def limits_of(server: Any) -> Limits:
    return attached(server, "graph_limits", Limits)


def add_fault(
    store: Any,
    kind: str,
    *,
    path: str | None,
    mailbox: str | None,
    count: int,
    retry_after: int,
    delay_ms: int,
) -> int:
    if kind not in GRAPH_FAULTS:
        raise ValueError(f"kind must be one of {GRAPH_FAULTS}")
    operation = f"graph:{path}" if path else "graph"
    return int(
        store.add_fault(
            kind,
            operation=operation,
            mailbox=mailbox,
            count=count,
            back_off_ms=retry_after * 1000,
            delay_ms=delay_ms,
        )
    )


def take_fault(
    store: Any, path: str, mailbox: str, kinds: tuple[str, ...]
) -> dict[str, Any] | None:
    """Consume one use of the first armed Graph fault of `kinds` matching this request."""
    conn = store.conn
    if conn.execute("SELECT 1 FROM faults WHERE kind LIKE 'graph%' LIMIT 1").fetchone() is None:
        return None
    with store.write() as c:
        rows = c.execute(
            "SELECT id, kind, operation, mailbox, remaining, back_off_ms, delay_ms FROM faults "
            "WHERE remaining > 0 AND operation LIKE 'graph%' ORDER BY id"
        ).fetchall()
        for fault_id, kind, operation, fault_mailbox, remaining, back_off, delay in rows:
            if kind not in kinds:
                continue
            if fault_mailbox and fault_mailbox.lower() != mailbox.lower():
                continue
            wanted = operation.partition(":")[2]
            if wanted and wanted.lower() not in path.lower():
                continue
            if remaining <= 1:
                c.execute("DELETE FROM faults WHERE id = ?", (fault_id,))
            else:
                c.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault_id,))
            return {"kind": kind, "retry_after": max(1, back_off // 1000), "delay_ms": delay}
    return None


def apply_fault(fault: dict[str, Any]) -> None:
    """Raise the error (or sleep) an armed request fault stands for."""
    kind, retry = fault["kind"], {"Retry-After": str(fault["retry_after"])}
    if kind == "graph_delay":
        time.sleep(fault["delay_ms"] / 1000.0)
    elif kind == "graph_400":
        raise GraphError(400, "ErrorInvalidRequest", "The request is invalid.")
    elif kind == "graph_429":
        raise GraphError(429, "TooManyRequests", "Too many requests, retry later.", retry)
    elif kind == "graph_503":
        raise GraphError(
            503, "ServiceNotAvailable", "The service is temporarily unavailable.", retry
        )
    elif kind == "graph_410":
        raise GraphError(
            410,
            "SyncStateNotFound",
            "The sync state is not valid anymore; start a new synchronization without a token.",
        )
    elif kind == "graph_401":
        raise GraphError(
            401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
        )


REQUEST_FAULTS = tuple(kind for kind in GRAPH_FAULTS if kind != "graph_drop_notification")
