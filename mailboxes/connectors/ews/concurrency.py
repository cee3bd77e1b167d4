"""The server's limit of requests in progress per user (Exchange's EWSMaxConcurrency).

Exchange refuses a user's request beyond the limit at once, before doing any of its work,
with ErrorServerBusy and no back-off ("EWS throttling in Exchange"; the default limit is
27, an administrator may set it as low as 1). A cycle overlaps a mailbox's requests (the
next page is fetched, and the last page's items marked, while a page is written), so a low
limit refused one of them in every cycle with several pages and postponed the mailbox: a
large initial sync never finished.

Each exchangelib `Account` gets a `MailboxProtocol`, its configuration's shared protocol
behind a gate that counts the mailbox's requests in progress. When the server refuses one
for concurrency, the gate turns serial (a request waits until none of the mailbox's others
is in progress, the worker process remembers it for `SERIAL_SECONDS`) and that request is
sent again at once, alone: the refusal cost the server nothing, and exchangelib's own loop
resends the same payload. A request refused while it was already alone (another client of
the user holds the connections) is not retried: the error postpones the mailbox as any
other busy answer. An ErrorServerBusy with a back-off (a spent budget) is never retried
here: the hint postpones the mailbox, no worker sleeps on it.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import requests
from exchangelib.protocol import RetryPolicy

# How long a worker process keeps a refused mailbox's requests one at a time.
SERIAL_SECONDS = 3600.0
# Mailboxes remembered as limited, at most (the oldest are forgotten first).
MAX_REMEMBERED = 10_000

_BACK_OFF = re.compile(rb'Name="BackOffMilliseconds"[^>]*>\s*(\d+)')
_serial_until: dict[Any, float] = {}
_serial_lock = threading.Lock()


def refused_for_concurrency(response: requests.Response) -> bool:
    """An ErrorServerBusy fault without a back-off: the user's requests in progress are
    at the limit (a spent budget says how long to wait)."""
    if response.status_code != 500:
        return False
    content = response.content or b""
    if b"ErrorServerBusy" not in content:
        return False
    found = _BACK_OFF.search(content)
    return found is None or int(found.group(1)) == 0


def _remembered(key: Any) -> bool:
    with _serial_lock:
        until = _serial_until.get(key)
        if until is None:
            return False
        if until < time.monotonic():
            del _serial_until[key]
            return False
        return True


def _remember(key: Any) -> None:
    with _serial_lock:
        _serial_until.pop(key, None)
        _serial_until[key] = time.monotonic() + SERIAL_SECONDS
        while len(_serial_until) > MAX_REMEMBERED:
            del _serial_until[next(iter(_serial_until))]


def forget_limits() -> None:
    """Forget every mailbox remembered as limited (tests)."""
    with _serial_lock:
        _serial_until.clear()


class _Gate:
    """The requests in progress of one mailbox; serial: one at a time."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.serial = _remembered(key)
        self._active = 0
        self._changed = threading.Condition()

    def enter(self) -> bool:
        """Wait for a turn; True if the request goes alone (serial)."""
        with self._changed:
            while self.serial and self._active:
                self._changed.wait()
            self._active += 1
            return self.serial

    def leave(self) -> None:
        with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def go_serial(self) -> None:
        with self._changed:
            self.serial = True
        _remember(self.key)


class _Sending(threading.local):
    alone = False  # the request in progress in this thread was sent alone
    retry = False  # it was refused for concurrency and may be sent again at once


class _Policy(RetryPolicy):
    """The configuration's retry policy, letting a request refused for concurrency be sent
    again at once (exchangelib asks `fail_fast` right after the refusal, in its thread)."""

    def __init__(self, inner: RetryPolicy, gate: _Gate, sending: _Sending) -> None:
        self.inner = inner
        self.gate = gate
        self.sending = sending

    @property
    def fail_fast(self) -> bool:
        if self.sending.retry:
            self.sending.retry = False
            return False
        return bool(self.inner.fail_fast)

    @property
    def back_off_until(self) -> Any:
        return self.inner.back_off_until

    @back_off_until.setter
    def back_off_until(self, value: Any) -> None:
        self.inner.back_off_until = value

    def back_off(self, seconds: Any) -> None:
        # Only reached after `fail_fast` allowed the retry (the inner policies fail fast):
        # the request goes again at once, through the now serial gate.
        if not self.inner.fail_fast:
            self.inner.back_off(seconds)

    def raise_response_errors(self, response: requests.Response) -> None:
        if refused_for_concurrency(response) and not self.sending.alone:
            self.gate.go_serial()
            self.sending.retry = True
        self.inner.raise_response_errors(response)


class MailboxProtocol:
    """An exchangelib protocol (session pool) as one mailbox's requests see it: every other
    attribute is the shared protocol's."""

    def __init__(self, protocol: Any, key: Any) -> None:
        self._protocol = protocol
        self._gate = _Gate(key)
        self._sending = _Sending()
        self._policy = _Policy(protocol.retry_policy, self._gate, self._sending)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._protocol, name)

    @property
    def serial(self) -> bool:
        """True once the mailbox's requests go one at a time."""
        return self._gate.serial

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._policy

    def get_session(self) -> Any:
        self._sending.alone = self._gate.enter()
        self._sending.retry = False
        try:
            return self._protocol.get_session()
        except BaseException:
            self._gate.leave()
            raise

    def release_session(self, session: Any) -> None:
        try:
            self._protocol.release_session(session)
        finally:
            self._gate.leave()

    def retire_session(self, session: Any) -> None:
        try:
            self._protocol.retire_session(session)
        finally:
            self._gate.leave()

    def decrease_poolsize(self) -> None:
        # A concurrency refusal is the mailbox's, not the shared pool's: keep the pool.
        if not self._sending.retry:
            self._protocol.decrease_poolsize()
