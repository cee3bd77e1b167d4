"""Polling for what a server does after it answers (Exchange delivers sent mail a moment
later, not within the send): a test asks again until the answer comes, never sleeps a fixed
time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from ews_emulator.control import ControlClient

T = TypeVar("T")

# Long enough for a loaded machine; a passing test returns as soon as the answer is there.
TIMEOUT = 60.0


def eventually(ask: Callable[[], T], what: str, *, timeout: float = TIMEOUT) -> T:
    """`ask()` again every tenth of a second until it returns something truthy, and return
    that; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = ask()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"after {timeout:.0f} s still no {what}"
        time.sleep(0.1)


def delivered(control: ControlClient, address: str, count: int = 1) -> list[dict[str, Any]]:
    """The items of `address`'s Inbox (the emulator's control view) once `count` are there:
    sent mail is delivered a moment after the send, as Exchange's transport does."""

    def inbox() -> list[dict[str, Any]]:
        items = control.items(address, "inbox")
        return items if len(items) >= count else []

    return eventually(inbox, f"{count} delivered message(s) in {address}'s Inbox")


def settled(control: ControlClient) -> None:
    """Wait until the emulator has delivered everything sent so far (messages and meeting
    messages): what is not in an Inbox then was never sent."""
    eventually(lambda: control.pending_deliveries() == 0, "end of the emulator's deliveries")
