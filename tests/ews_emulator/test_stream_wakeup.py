"""Streaming subscriptions sleep until their mailboxes have events: a committed event wakes
the streams of its mailbox at once, not those of other mailboxes, and a rolled-back one
wakes nobody (the emulator used to read the events table every 50 ms per open stream)."""

from __future__ import annotations

import threading
from pathlib import Path

from ews_emulator.store import Store

WATCHED, OTHER = 1, 2


def _store(tmp_path: Path) -> Store:
    store = Store(str(tmp_path / "ews.sqlite3"))
    with store.write() as c:
        for mailbox_id in (WATCHED, OTHER):
            c.execute(
                "INSERT INTO mailboxes(id, smtp, display_name, password) VALUES(?,?,?,?)",
                (mailbox_id, f"m{mailbox_id}@example.com", "M", "x"),
            )
            c.execute(
                "INSERT INTO subscriptions VALUES(?,?,?,?,?,?,?,?)",
                (f"s{mailbox_id}", mailbox_id, "streaming", 1, "[]", "[]", 0, "now"),
            )
    return store


def _waiter(store: Store, timeout: float) -> tuple[threading.Thread, list[bool]]:
    seen = store.event_marks([WATCHED])
    woke: list[bool] = []
    thread = threading.Thread(
        target=lambda: woke.append(store.wait_for_events([WATCHED], seen, timeout))
    )
    thread.start()
    return thread, woke


def test_a_committed_event_wakes_the_streams_of_its_mailbox(tmp_path: Path) -> None:
    store = _store(tmp_path)
    thread, woke = _waiter(store, timeout=60)
    with store.write() as c:
        store.add_event(c, WATCHED, "CreatedEvent", "item-1", "folder-1")
    thread.join(timeout=20)
    assert woke == [True]


def test_other_mailboxes_and_rolled_back_events_wake_nobody(tmp_path: Path) -> None:
    store = _store(tmp_path)
    thread, woke = _waiter(store, timeout=1.0)
    with store.write() as c:
        store.add_event(c, OTHER, "CreatedEvent", "item-1", "folder-1")
    try:
        with store.write() as c:
            store.add_event(c, WATCHED, "CreatedEvent", "item-2", "folder-1")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    thread.join(timeout=20)
    assert woke == [False]
    assert store.event_marks([WATCHED, OTHER]) == (0, 1)
