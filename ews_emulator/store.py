# ruff: noqa: S608 - SQL texts interpolate only the column-list constants below; values are bound
"""The emulator's state, in one SQLite file shared by every emulator process.

Every change to an item or folder takes the next value of its mailbox's change sequence
(`mailboxes.seq`); items remember the sequence of their last change, of their last content
change (anything but the read flag) and of their arrival in their folder. Deleted and moved
items leave a tombstone in the folder they left. SyncFolderItems and SyncFolderHierarchy
are then range queries over the sequence, and the events of subscriptions are rows of
`events`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .folder_tree import STANDARD_FOLDERS
from .recurrence import occurrence_id, parse_occurrence_id
from .soap import fmt_dt, new_change_key, new_id, utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mailboxes(
    id INTEGER PRIMARY KEY,
    smtp TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    password TEXT NOT NULL,
    is_impersonator INTEGER NOT NULL DEFAULT 0,
    has_mailbox INTEGER NOT NULL DEFAULT 1,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS folders(
    id TEXT PRIMARY KEY,
    mailbox_id INTEGER NOT NULL,
    parent_id TEXT,
    distinguished TEXT,
    display_name TEXT NOT NULL,
    folder_class TEXT,
    kind TEXT NOT NULL,
    change_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entered_seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS folders_mailbox ON folders(mailbox_id, seq);
CREATE INDEX IF NOT EXISTS folders_parent ON folders(parent_id);
CREATE TABLE IF NOT EXISTS items(
    id TEXT PRIMARY KEY,
    mailbox_id INTEGER NOT NULL,
    folder_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    change_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    content_seq INTEGER NOT NULL,
    entered_seq INTEGER NOT NULL,
    is_read INTEGER NOT NULL DEFAULT 1,
    master_id TEXT,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    xml BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS items_folder_seq ON items(folder_id, seq);
CREATE INDEX IF NOT EXISTS items_master ON items(master_id);
CREATE TABLE IF NOT EXISTS tombstones(
    item_id TEXT NOT NULL,
    mailbox_id INTEGER NOT NULL,
    folder_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entered_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_folder_seq ON tombstones(folder_id, seq);
CREATE TABLE IF NOT EXISTS attachments(
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    xml BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_item ON attachments(item_id);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    is_folder INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    folder_id TEXT NOT NULL,
    old_object_id TEXT,
    old_folder_id TEXT,
    ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_mailbox ON events(mailbox_id, id);
CREATE TABLE IF NOT EXISTS subscriptions(
    id TEXT PRIMARY KEY,
    mailbox_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    all_folders INTEGER NOT NULL,
    folders TEXT NOT NULL,
    event_types TEXT NOT NULL,
    last_event INTEGER NOT NULL,
    created TEXT NOT NULL
);
-- Every EWS id an item was given after the one it was created with (EWS gives moved and
-- soft-deleted items a new id): the creation id is the item's immutable identity, which
-- Graph's immutable ids (Prefer: IdType="ImmutableId") and translateExchangeIds rely on.
-- ITEM_ALIAS_TRIGGER records every change of items.id, whichever code makes it.
CREATE TABLE IF NOT EXISTS item_aliases(
    item_id TEXT PRIMARY KEY,
    original_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS item_aliases_original ON item_aliases(original_id);
-- Per-mailbox settings kept as XML: Inbox rules, OOF, user configurations (by kind, key).
CREATE TABLE IF NOT EXISTS mailbox_settings(
    mailbox_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    xml BLOB NOT NULL,
    PRIMARY KEY(mailbox_id, kind, key)
);
CREATE TABLE IF NOT EXISTS faults(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    operation TEXT,
    mailbox TEXT COLLATE NOCASE,
    remaining INTEGER NOT NULL,
    back_off_ms INTEGER NOT NULL DEFAULT 0,
    delay_ms INTEGER NOT NULL DEFAULT 0
);
"""

ITEM_ALIAS_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS items_new_id AFTER UPDATE OF id ON items
WHEN OLD.id != NEW.id
BEGIN
    INSERT OR REPLACE INTO item_aliases(item_id, original_id) VALUES (
        NEW.id,
        coalesce((SELECT original_id FROM item_aliases WHERE item_id = OLD.id), OLD.id)
    );
END
"""

# Folders hidden from SyncFolderHierarchy (the dumpster is not part of the synced hierarchy).
HIDDEN_FOLDERS = ("recoverableitemsroot", "recoverableitemsdeletions", "recoverableitemspurges")


@dataclass
class Mailbox:
    id: int
    smtp: str
    display_name: str
    password: str
    is_impersonator: bool
    has_mailbox: bool


@dataclass
class Folder:
    id: str
    mailbox_id: int
    parent_id: str | None
    distinguished: str | None
    display_name: str
    folder_class: str | None
    kind: str
    change_key: str
    seq: int
    entered_seq: int
    deleted: bool


@dataclass
class ItemRow:
    id: str
    mailbox_id: int
    folder_id: str
    kind: str
    change_key: str
    seq: int
    content_seq: int
    entered_seq: int
    is_read: bool
    master_id: str | None
    created: str
    modified: str
    xml: bytes


ITEM_COLUMNS = (
    "id, mailbox_id, folder_id, kind, change_key, seq, content_seq, entered_seq, is_read, "
    "master_id, created, modified, xml"
)


def _item(row: Any) -> ItemRow:
    return ItemRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        bool(row[8]),
        row[9],
        row[10],
        row[11],
        bytes(row[12]),
    )


def _folder(row: Any) -> Folder:
    return Folder(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        bool(row[10]),
    )


FOLDER_COLUMNS = (
    "id, mailbox_id, parent_id, distinguished, display_name, folder_class, kind, change_key, "
    "seq, entered_seq, deleted"
)


class Store:
    """Thread-safe access to the SQLite state: one connection per thread."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._local = threading.local()
        # Streaming subscriptions wait here for their mailboxes' events (a count per mailbox,
        # bumped when a write that added events commits) instead of reading the events table
        # again and again: 1,000 open streams polling it every 50 ms kept a 2-core machine busy.
        self._event_signal = threading.Condition()
        self._event_marks: dict[int, int] = {}
        conn = self.conn
        self._retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self._retry(lambda s=statement: conn.execute(s))
        self._retry(lambda: conn.execute(ITEM_ALIAS_TRIGGER))
        self.secret = self._meta_secret()

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def close_thread_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @staticmethod
    def _retry(fn: Any) -> Any:
        for attempt in range(50):
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                time.sleep(0.02 * (attempt + 1))
        return fn()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; writers are serialised across processes by BEGIN IMMEDIATE."""
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
        self._local.after_commit = []
        try:
            yield conn
        except BaseException:
            self._local.after_commit = []
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
            hooks, self._local.after_commit = self._local.after_commit, []
            for hook in hooks:
                hook()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[sqlite3.Connection]:
        """Part of the calling thread's write transaction: if the block raises, what it
        wrote is undone (and what it left to run after the commit is dropped)."""
        conn = self.conn
        assert conn.in_transaction, "a savepoint is part of a write transaction"
        hooks = len(self._local.after_commit)
        conn.execute("SAVEPOINT part")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO part")
            conn.execute("RELEASE part")
            del self._local.after_commit[hooks:]
            raise
        conn.execute("RELEASE part")

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once the calling thread's write transaction commits (at once outside
        one); a rolled-back transaction drops it."""
        if not self.conn.in_transaction:
            hook()
            return
        self._local.after_commit.append(hook)

    def _meta_secret(self) -> bytes:
        with self.write() as c:
            row = c.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
            if row is None:
                secret = os.urandom(32).hex()
                c.execute("INSERT INTO meta(key, value) VALUES('secret', ?)", (secret,))
            else:
                secret = row[0]
        return bytes.fromhex(secret)

    # -- mailboxes -------------------------------------------------------------------------

    def next_seq(self, c: sqlite3.Connection, mailbox_id: int) -> int:
        row = c.execute(
            "UPDATE mailboxes SET seq = seq + 1 WHERE id = ? RETURNING seq", (mailbox_id,)
        ).fetchone()
        return int(row[0])

    def ensure_mailbox(
        self,
        smtp: str,
        password: str,
        *,
        display_name: str | None = None,
        impersonator: bool = False,
        has_mailbox: bool = True,
        reset_password: bool = True,
    ) -> Mailbox:
        """Create the mailbox (with its distinguished folders) unless it exists."""
        name = display_name or smtp.split("@")[0].replace(".", " ").title()
        with self.write() as c:
            row = c.execute("SELECT id FROM mailboxes WHERE smtp = ?", (smtp,)).fetchone()
            if row is None:
                cur = c.execute(
                    "INSERT INTO mailboxes(smtp, display_name, password, is_impersonator, "
                    "has_mailbox) VALUES(?, ?, ?, ?, ?)",
                    (smtp, name, password, int(impersonator), int(has_mailbox)),
                )
                mailbox_id = int(cur.lastrowid or 0)
                ids: dict[str, str] = {}
                # Standard folders keep their tree key in `distinguished` (the same as the
                # distinguished id for those that have one): none of them can be deleted.
                for key, _, fname, fclass, kind, parent in STANDARD_FOLDERS:
                    seq = self.next_seq(c, mailbox_id)
                    ids[key] = new_id(b"\x01")
                    c.execute(
                        f"INSERT INTO folders({FOLDER_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,0)",
                        (
                            ids[key],
                            mailbox_id,
                            ids[parent] if parent else None,
                            key,
                            fname,
                            fclass,
                            kind,
                            new_change_key(),
                            seq,
                            seq,
                        ),
                    )
            else:
                mailbox_id = int(row[0])
                if reset_password:
                    c.execute(
                        "UPDATE mailboxes SET password = ?, is_impersonator = "
                        "max(is_impersonator, ?) WHERE id = ?",
                        (password, int(impersonator), mailbox_id),
                    )
        mailbox = self.mailbox_by_id(mailbox_id)
        assert mailbox is not None
        return mailbox

    def _mailbox(self, where: str, arg: Any) -> Mailbox | None:
        row = self.conn.execute(
            "SELECT id, smtp, display_name, password, is_impersonator, has_mailbox "
            f"FROM mailboxes WHERE {where}",
            (arg,),
        ).fetchone()
        if row is None:
            return None
        return Mailbox(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]))

    def mailbox(self, smtp: str) -> Mailbox | None:
        return self._mailbox("smtp = ?", smtp.strip())

    def mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        return self._mailbox("id = ?", mailbox_id)

    def mailboxes(self) -> list[Mailbox]:
        rows = self.conn.execute("SELECT smtp FROM mailboxes ORDER BY id").fetchall()
        return [m for m in (self.mailbox(r[0]) for r in rows) if m is not None]

    def set_password(self, smtp: str, password: str) -> bool:
        with self.write() as c:
            cur = c.execute("UPDATE mailboxes SET password = ? WHERE smtp = ?", (password, smtp))
            return cur.rowcount > 0

    # -- settings (rules, OOF, user configurations) ----------------------------------------

    def settings(self, mailbox_id: int, kind: str) -> list[tuple[str, bytes]]:
        rows = self.conn.execute(
            "SELECT key, xml FROM mailbox_settings WHERE mailbox_id = ? AND kind = ? "
            "ORDER BY rowid",
            (mailbox_id, kind),
        ).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def setting(self, mailbox_id: int, kind: str, key: str) -> bytes | None:
        row = self.conn.execute(
            "SELECT xml FROM mailbox_settings WHERE mailbox_id = ? AND kind = ? AND key = ?",
            (mailbox_id, kind, key),
        ).fetchone()
        return bytes(row[0]) if row else None

    def put_setting(self, mailbox_id: int, kind: str, key: str, xml: bytes) -> None:
        with self.write() as c:
            c.execute(
                "INSERT INTO mailbox_settings(mailbox_id, kind, key, xml) VALUES(?, ?, ?, ?) "
                "ON CONFLICT(mailbox_id, kind, key) DO UPDATE SET xml = excluded.xml",
                (mailbox_id, kind, key, xml),
            )

    def delete_setting(self, mailbox_id: int, kind: str, key: str) -> bool:
        with self.write() as c:
            cur = c.execute(
                "DELETE FROM mailbox_settings WHERE mailbox_id = ? AND kind = ? AND key = ?",
                (mailbox_id, kind, key),
            )
            return cur.rowcount > 0

    # -- folders ---------------------------------------------------------------------------

    def folder(self, folder_id: str) -> Folder | None:
        row = self.conn.execute(
            f"SELECT {FOLDER_COLUMNS} FROM folders WHERE id = ? AND deleted = 0", (folder_id,)
        ).fetchone()
        return _folder(row) if row else None

    def distinguished_folder(self, mailbox_id: int, name: str) -> Folder | None:
        row = self.conn.execute(
            f"SELECT {FOLDER_COLUMNS} FROM folders WHERE mailbox_id = ? AND distinguished = ? "
            "AND deleted = 0",
            (mailbox_id, name),
        ).fetchone()
        return _folder(row) if row else None

    def child_folders(self, parent_id: str) -> list[Folder]:
        rows = self.conn.execute(
            f"SELECT {FOLDER_COLUMNS} FROM folders WHERE parent_id = ? AND deleted = 0 "
            "ORDER BY display_name",
            (parent_id,),
        ).fetchall()
        return [_folder(r) for r in rows]

    def folder_counts(self, folder_id: str) -> tuple[int, int, int]:
        """(total items, unread items, child folders) of a folder."""
        total, unread = self.conn.execute(
            "SELECT count(*), coalesce(sum(1 - is_read), 0) FROM items WHERE folder_id = ?",
            (folder_id,),
        ).fetchone()
        (kids,) = self.conn.execute(
            "SELECT count(*) FROM folders WHERE parent_id = ? AND deleted = 0", (folder_id,)
        ).fetchone()
        return int(total), int(unread), int(kids)

    def create_folder(
        self, c: sqlite3.Connection, parent: Folder, name: str, folder_class: str | None, kind: str
    ) -> Folder:
        seq = self.next_seq(c, parent.mailbox_id)
        folder = Folder(
            new_id(b"\x01"),
            parent.mailbox_id,
            parent.id,
            None,
            name,
            folder_class,
            kind,
            new_change_key(),
            seq,
            seq,
            False,
        )
        c.execute(
            f"INSERT INTO folders({FOLDER_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,0)",
            (
                folder.id,
                folder.mailbox_id,
                folder.parent_id,
                None,
                name,
                folder_class,
                kind,
                folder.change_key,
                seq,
                seq,
            ),
        )
        self.add_event(c, folder.mailbox_id, "CreatedEvent", folder.id, parent.id, is_folder=True)
        return folder

    def delete_folder(self, c: sqlite3.Connection, folder: Folder) -> None:
        """Mark a folder and its subtree deleted (their items go with them)."""
        todo = [folder]
        while todo:
            f = todo.pop()
            todo.extend(self.child_folders(f.id))
            seq = self.next_seq(c, f.mailbox_id)
            c.execute("UPDATE folders SET deleted = 1, seq = ? WHERE id = ?", (seq, f.id))
            item_ids = [
                r[0] for r in c.execute("SELECT id FROM items WHERE folder_id = ?", (f.id,))
            ]
            for item_id in item_ids:
                self.remove_item(c, item_id)
            self.add_event(c, f.mailbox_id, "DeletedEvent", f.id, f.parent_id or "", is_folder=True)

    # -- items -----------------------------------------------------------------------------

    def item(self, item_id: str) -> ItemRow | None:
        row = self.conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        return _item(row) if row else None

    def items_in_folder(self, folder_id: str) -> list[ItemRow]:
        rows = self.conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE folder_id = ? ORDER BY rowid", (folder_id,)
        ).fetchall()
        return [_item(r) for r in rows]

    def insert_item(self, c: sqlite3.Connection, row: ItemRow) -> None:
        c.execute(
            f"INSERT INTO items({ITEM_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                row.id,
                row.mailbox_id,
                row.folder_id,
                row.kind,
                row.change_key,
                row.seq,
                row.content_seq,
                row.entered_seq,
                int(row.is_read),
                row.master_id,
                row.created,
                row.modified,
                row.xml,
            ),
        )
        if row.folder_id:
            self.add_event(c, row.mailbox_id, "CreatedEvent", row.id, row.folder_id)

    def save_item(
        self,
        c: sqlite3.Connection,
        row: ItemRow,
        *,
        old_folder: str | None = None,
        old_entered: int = 0,
        old_id: str | None = None,
    ) -> None:
        """Write back a changed item (its seq fields already moved by the caller; `old_id`:
        its id before a move gave it a new one, see `rekey_item`)."""
        c.execute(
            "UPDATE items SET folder_id=?, kind=?, change_key=?, seq=?, content_seq=?, "
            "entered_seq=?, is_read=?, master_id=?, modified=?, xml=? WHERE id=?",
            (
                row.folder_id,
                row.kind,
                row.change_key,
                row.seq,
                row.content_seq,
                row.entered_seq,
                int(row.is_read),
                row.master_id,
                row.modified,
                row.xml,
                row.id,
            ),
        )
        if old_folder is not None and old_folder != row.folder_id:
            c.execute(
                "INSERT INTO tombstones(item_id, mailbox_id, folder_id, seq, entered_seq) "
                "VALUES(?,?,?,?,?)",
                (old_id or row.id, row.mailbox_id, old_folder, row.seq, old_entered),
            )
            self.add_event(
                c,
                row.mailbox_id,
                "MovedEvent",
                row.id,
                row.folder_id,
                old_id or row.id,
                old_folder,
            )
        elif row.folder_id:
            self.add_event(c, row.mailbox_id, "ModifiedEvent", row.id, row.folder_id)

    def rekey_item(self, c: sqlite3.Connection, row: ItemRow, old_id: str) -> bytes:
        """Move the stored item `old_id` to its new id `row.id` (a move gave it one), with
        its attachments and its series' exceptions (whose ids derive from the master's).
        Returns the item's xml with the exceptions' new ids."""
        c.execute("UPDATE items SET id = ? WHERE id = ?", (row.id, old_id))
        c.execute("UPDATE attachments SET item_id = ? WHERE item_id = ?", (row.id, old_id))
        xml = row.xml
        for child_id, child_xml in c.execute(
            "SELECT id, xml FROM items WHERE master_id = ?", (old_id,)
        ).fetchall():
            parsed = parse_occurrence_id(child_id)
            renamed = occurrence_id(row.id, parsed[1]) if parsed else new_id(b"\x00")
            c.execute(
                "UPDATE items SET id = ?, master_id = ?, xml = ? WHERE id = ?",
                (
                    renamed,
                    row.id,
                    bytes(child_xml).replace(child_id.encode(), renamed.encode()),
                    child_id,
                ),
            )
            c.execute("UPDATE attachments SET item_id = ? WHERE item_id = ?", (renamed, child_id))
            xml = xml.replace(child_id.encode(), renamed.encode())
        return xml

    def remove_item(self, c: sqlite3.Connection, item_id: str) -> ItemRow | None:
        row = c.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            return None
        item = _item(row)
        if item.folder_id:
            seq = self.next_seq(c, item.mailbox_id)
            c.execute(
                "INSERT INTO tombstones(item_id, mailbox_id, folder_id, seq, entered_seq) "
                "VALUES(?,?,?,?,?)",
                (item.id, item.mailbox_id, item.folder_id, seq, item.entered_seq),
            )
            self.add_event(c, item.mailbox_id, "DeletedEvent", item.id, item.folder_id)
        c.execute("DELETE FROM items WHERE id = ?", (item_id,))
        c.execute("DELETE FROM attachments WHERE item_id = ?", (item_id,))
        for (child_id,) in c.execute(
            "SELECT id FROM items WHERE master_id = ?", (item_id,)
        ).fetchall():
            c.execute("DELETE FROM items WHERE id = ?", (child_id,))
        return item

    # -- immutable identity (see item_aliases in SCHEMA) ---------------------------------------

    def original_item_id(self, item_id: str, c: sqlite3.Connection | None = None) -> str:
        """The id the item now (or once) known as `item_id` was created with."""
        row = (
            (c or self.conn)
            .execute("SELECT original_id FROM item_aliases WHERE item_id = ?", (item_id,))
            .fetchone()
        )
        return str(row[0]) if row else item_id

    def current_item_id(self, original_id: str) -> str | None:
        """The id the item created as `original_id` has now (None when it is gone)."""
        conn = self.conn
        if conn.execute("SELECT 1 FROM items WHERE id = ?", (original_id,)).fetchone():
            return original_id
        row = conn.execute(
            "SELECT a.item_id FROM item_aliases a JOIN items i ON i.id = a.item_id "
            "WHERE a.original_id = ? LIMIT 1",
            (original_id,),
        ).fetchone()
        return str(row[0]) if row else None

    def sync_rows(
        self, folder_id: str, after: int, limit: int
    ) -> list[tuple[int, str, str, ItemRow | None]]:
        """Changes to a folder after sequence `after`, oldest first: (seq, kind, id, row)."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            return self._sync_rows(conn, folder_id, after, limit)
        finally:
            conn.execute("COMMIT")

    def _sync_rows(
        self, conn: sqlite3.Connection, folder_id: str, after: int, limit: int
    ) -> list[tuple[int, str, str, ItemRow | None]]:
        rows = conn.execute(
            "SELECT seq, 'item', id FROM items WHERE folder_id = ? AND seq > ? "
            "UNION ALL SELECT seq, 'gone', item_id FROM tombstones "
            "WHERE folder_id = ? AND seq > ? AND entered_seq <= ? "
            "ORDER BY 1 LIMIT ?",
            (folder_id, after, folder_id, after, after, limit),
        ).fetchall()
        ids = [r[2] for r in rows if r[1] == "item"]
        items: dict[str, ItemRow] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE id IN ({marks})", chunk
            ).fetchall():
                items[r[0]] = _item(r)
        out: list[tuple[int, str, str, ItemRow | None]] = []
        for seq, kind, item_id in rows:
            if kind == "item":
                item = items.get(item_id)
                if item is None or item.seq != seq:
                    continue
                out.append((seq, kind, item_id, item))
            else:
                out.append((seq, kind, item_id, None))
        return out

    def folder_changes(self, mailbox_id: int, after: int) -> list[Folder]:
        rows = self.conn.execute(
            f"SELECT {FOLDER_COLUMNS} FROM folders WHERE mailbox_id = ? AND seq > ? ORDER BY seq",
            (mailbox_id, after),
        ).fetchall()
        return [_folder(r) for r in rows]

    def current_seq(self, mailbox_id: int) -> int:
        row = self.conn.execute("SELECT seq FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
        return int(row[0]) if row else 0

    # -- attachments -----------------------------------------------------------------------

    def attachments(self, item_id: str) -> list[tuple[str, bytes]]:
        rows = self.conn.execute(
            "SELECT id, xml FROM attachments WHERE item_id = ? ORDER BY position", (item_id,)
        ).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def attachment(self, attachment_id: str) -> tuple[str, bytes] | None:
        row = self.conn.execute(
            "SELECT item_id, xml FROM attachments WHERE id = ?", (attachment_id,)
        ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    # -- events and subscriptions -----------------------------------------------------------

    def add_event(
        self,
        c: sqlite3.Connection,
        mailbox_id: int,
        kind: str,
        object_id: str,
        folder_id: str,
        old_object_id: str | None = None,
        old_folder_id: str | None = None,
        *,
        is_folder: bool = False,
    ) -> None:
        if not self.has_subscriptions(c, mailbox_id):
            return
        c.execute(
            "INSERT INTO events(mailbox_id, kind, is_folder, object_id, folder_id, "
            "old_object_id, old_folder_id, ts) VALUES(?,?,?,?,?,?,?,?)",
            (
                mailbox_id,
                kind,
                int(is_folder),
                object_id,
                folder_id,
                old_object_id,
                old_folder_id,
                fmt_dt(utcnow()),
            ),
        )
        self.after_commit(lambda: self._signal_events(mailbox_id))

    def _signal_events(self, mailbox_id: int) -> None:
        with self._event_signal:
            self._event_marks[mailbox_id] = self._event_marks.get(mailbox_id, 0) + 1
            self._event_signal.notify_all()

    def event_marks(self, mailbox_ids: Sequence[int]) -> tuple[int, ...]:
        """Where the mailboxes' events stand in this process: read before looking at the
        events table, then `wait_for_events` with it sleeps until one of them has more."""
        with self._event_signal:
            return self._marks(mailbox_ids)

    def wait_for_events(
        self, mailbox_ids: Sequence[int], seen: tuple[int, ...], timeout: float
    ) -> bool:
        """Sleep until an event of one of the mailboxes commits after `seen` (True), or
        `timeout` passes (False: events written by another process are only seen then)."""
        with self._event_signal:
            return self._event_signal.wait_for(lambda: self._marks(mailbox_ids) != seen, timeout)

    def _marks(self, mailbox_ids: Sequence[int]) -> tuple[int, ...]:
        return tuple(self._event_marks.get(m, 0) for m in mailbox_ids)

    @staticmethod
    def has_subscriptions(c: sqlite3.Connection, mailbox_id: int) -> bool:
        row = c.execute(
            "SELECT 1 FROM subscriptions WHERE mailbox_id = ? LIMIT 1", (mailbox_id,)
        ).fetchone()
        return row is not None

    def last_event_id(self) -> int:
        row = self.conn.execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    # -- faults ----------------------------------------------------------------------------

    def add_fault(
        self,
        kind: str,
        *,
        operation: str | None,
        mailbox: str | None,
        count: int,
        back_off_ms: int = 0,
        delay_ms: int = 0,
    ) -> int:
        with self.write() as c:
            cur = c.execute(
                "INSERT INTO faults(kind, operation, mailbox, remaining, back_off_ms, delay_ms) "
                "VALUES(?,?,?,?,?,?)",
                (kind, operation, mailbox, count, back_off_ms, delay_ms),
            )
            return int(cur.lastrowid or 0)

    def take_fault(self, operation: str, mailbox: str | None) -> dict[str, Any] | None:
        """Consume one use of the first armed fault matching this call, if any."""
        conn = self.conn
        if conn.execute("SELECT 1 FROM faults LIMIT 1").fetchone() is None:
            return None
        with self.write() as c:
            row = c.execute(
                "SELECT id, kind, back_off_ms, delay_ms, remaining FROM faults "
                "WHERE remaining > 0 AND (operation IS NULL OR operation = ?) "
                "AND (mailbox IS NULL OR mailbox = ?) ORDER BY id LIMIT 1",
                (operation, mailbox or ""),
            ).fetchone()
            if row is None:
                return None
            if row[4] <= 1:
                c.execute("DELETE FROM faults WHERE id = ?", (row[0],))
            else:
                c.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (row[0],))
        return {"id": row[0], "kind": row[1], "back_off_ms": row[2], "delay_ms": row[3]}

    def list_faults(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT id, kind, operation, mailbox, remaining, back_off_ms, delay_ms FROM faults"
        ).fetchall()
        keys = ("id", "kind", "operation", "mailbox", "remaining", "back_off_ms", "delay_ms")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def clear_faults(self) -> None:
        with self.write() as c:
            c.execute("DELETE FROM faults")
