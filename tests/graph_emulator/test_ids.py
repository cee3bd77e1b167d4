"""Immutable ids follow an item whose EWS id changes (as a move gives it a new one)."""

from __future__ import annotations

from pathlib import Path

from ews_emulator import control_api
from ews_emulator.graph import ids
from ews_emulator.server import EmulatorServer
from ews_emulator.store import Store


def test_immutable_id_survives_id_changes(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "ids.db"))
    store.ensure_mailbox("a@example.com", "x")
    server = EmulatorServer(("127.0.0.1", 0), store)
    try:
        [first] = control_api.seed(
            server, {"mailbox": "a@example.com", "kind": "tasks", "count": 1}
        )["ids"]
        immutable = ids.immutable_id(store, first)
        assert ids.resolve_item_id(store, immutable) == first
        for n in range(2):  # whatever renames items.id (a move, twice) is recorded
            current = ids.resolve_item_id(store, immutable)
            with store.write() as c:
                c.execute("UPDATE items SET id = ? WHERE id = ?", (f"renamed{n}", current))
            assert ids.resolve_item_id(store, immutable) == f"renamed{n}"
            assert ids.immutable_id(store, f"renamed{n}") == immutable
        assert store.current_item_id(first) == "renamed1"
        assert ids.rest_id(first) != immutable
    finally:
        server.server_close()
