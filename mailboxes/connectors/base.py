"""The seam between the appointments/contacts/tasks engine (`mailboxes/sync/`) and a protocol.

The engine speaks canonical forms only (`Canonical`: the plain, JSON-able dicts of
`mailboxes/itemtypes/`, the same for every protocol) and opaque strings: item ids, change
keys, folder ids and cursors (an EWS sync state, a Graph delta link: the engine stores them
in `FolderSyncState.sync_state` and never looks inside). A protocol implements
`MailboxConnector` (one mailbox) and `ItemConnector` (one item type of it) and registers a
factory for its profiles in `mailboxes.connectors.registry`:

    connector = for_mailbox(mailbox, ctx)            # EWS today
    items = connector.items(TYPES["contact"])       # the ItemConnector of one type
    for page in items.changes(folder_id, cursor):
        ...                                          # ChangePage: changed, deleted, cursor

Failures are the connector error types (`mailboxes.connectors`: `TransientSyncError`,
`PermanentSyncError`) and the four below. Operations on several items answer one result per
item, in order: `Saved` or the `SyncError` that item got (`ItemNotFoundError`,
`ItemConflictError`, a `PermanentSyncError(affects_mailbox=False)` for a refused item); a
failure of the whole request is raised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from mailboxes.connectors import SyncError

# A record or item in canonical form: a plain JSON-able dict of the synced fields,
# normalised (UTC ISO times, canonical time-zone names, sorted lists where order means
# nothing). Each item type defines its keys (`mailboxes/itemtypes/`).
Canonical = dict[str, Any]


# --- Errors --------------------------------------------------------------------------------


class CursorLostError(SyncError):
    """The server no longer accepts a stored cursor (EWS: ErrorInvalidSyncStateData; Graph:
    410 Gone on a delta link): the engine pulls the folder again from the start."""


class ItemConflictError(SyncError):
    """An update carried a stale change key: the item changed on the server meanwhile."""


class ItemNotFoundError(SyncError):
    """The item is gone from the server (deleted, or moved since we last saw it)."""


class FolderNotFoundError(SyncError):
    """The folder is gone from the server (deleted since it was listed or selected)."""


# --- What the engine reads -----------------------------------------------------------------


@dataclass(frozen=True)
class ItemRef:
    """An item as the server names it now: its id and the change key of its version."""

    id: str
    change_key: str


@dataclass(frozen=True)
class RemoteItem:
    """An item created or changed on the server, in canonical form.

    `record_id` is the CRM record id the item carries (`ItemConnector.stamp`), None when it
    carries none; `ical_uid` the iCalendar UID (appointments), else "";
    `modified_at` the server's last modification time (UTC), used by "most recent wins";
    `sent`: a meeting its organizer's mailbox has sent to its attendees (EWS
    MeetingRequestWasSent, Graph's isDraft false), so its attendees hold it.
    """

    id: str
    change_key: str
    canonical: Canonical
    folder_id: str
    record_id: int | None = None
    ical_uid: str = ""
    modified_at: dt.datetime | None = None
    sent: bool = False

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.id, self.change_key)


@dataclass(frozen=True)
class ChangePage:
    """One page of a folder's changes after a cursor.

    `changed`: items created or changed (series masters and single items; occurrences of a
    series come inside their master's canonical form); `deleted`: ids of items gone from the
    folder (deleted or moved away); `cursor`: where the next page starts (store it with the
    page's writes); `complete`: no more changes after this page (the initial sync is done).
    """

    changed: tuple[RemoteItem, ...] = ()
    deleted: tuple[str, ...] = ()
    cursor: str = ""
    complete: bool = True


@dataclass(frozen=True)
class FolderInfo:
    """A folder below another (contact folders below Contacts)."""

    id: str
    name: str


# --- What the engine writes ----------------------------------------------------------------


@dataclass(frozen=True)
class NewItem:
    """An item to create: its canonical form (categories the mailbox stamps included), the
    CRM record id it carries from birth, and the iCalendar UID to give it ("" for none)."""

    canonical: Canonical
    record_id: int
    ical_uid: str = ""


@dataclass(frozen=True)
class ItemChange:
    """An item to overwrite with a canonical form, refused when its change key is stale."""

    ref: ItemRef
    canonical: Canonical


@dataclass(frozen=True)
class Saved:
    """An item written: its id and new change key."""

    id: str
    change_key: str


class DeleteMode(StrEnum):
    """How items are deleted (`ItemTypeSyncOptions.exchange_delete_mode`)."""

    HARD = "hard"
    SOFT = "soft"
    MOVE_TO_DELETED_ITEMS = "move_to_deleted_items"


Result = Saved | SyncError


class ItemKind(Protocol):
    """What a connector needs to know of an item type (`mailboxes/itemtypes/` defines one
    per type): its name ("appointment", "contact", "task"), its default folder by well-known
    name ("calendar", "contacts", "tasks"; a connector maps these to its own), and whether
    it has series with modified and deleted occurrences (appointments)."""

    @property
    def item_type(self) -> str: ...

    @property
    def default_folder(self) -> str: ...

    @property
    def has_series(self) -> bool: ...


# --- The interface ---------------------------------------------------------------------------


class ItemConnector(Protocol):
    """One item type of one mailbox on the server: what the ACT engine asks of a protocol.

    Folder ids are the connector's own strings, except the type's default folder, which the
    engine names by `ItemKind.default_folder`. Every method raises the connector error types
    for failures of the whole request.
    """

    kind: ItemKind
    # Whether a meeting whose attendees hold it (or an appointment given attendees) can be
    # changed or deleted without telling them (EWS `SendToNone`); Microsoft Graph cannot.
    silent_meeting_changes: ClassVar[bool]
    # Whether an item keeps its id when it moves to another folder or to Deleted Items
    # (Graph's immutable ids; EWS gives it a new one). Then the engine need not write the
    # CRM record id on an item with the page that links it: it writes it later, a budget a
    # cycle (`mailboxes/sync/stamps.py`), and the mapping follows the item by its id.
    ids_survive_moves: ClassVar[bool]

    def folders_below(self, folder_id: str) -> list[FolderInfo]:
        """Every folder of this type below `folder_id`, at any depth (contact folders)."""
        ...

    def changes(
        self,
        folder_id: str,
        cursor: str | None,
        *,
        skip: Mapping[str, str] | None = None,
        stamps: bool = True,
    ) -> Iterator[ChangePage]:
        """Pages of changes of the folder after `cursor` (None: every item, from the start),
        until the folder has no more. `skip`: {item id: change key} of versions the engine
        wrote itself during this pull; a change to exactly that version may be left out.
        `stamps` False: the CRM has nothing a record id could link to (no mapping of the
        type, no record of the owner), so an item's `record_id` may be left None where
        reading it costs requests.
        Raises `CursorLostError` (the cursor is refused), `FolderNotFoundError`.
        The next page may be fetched while the caller works on the current one; the caller's
        database work must stay in the caller's thread (nothing here touches the database).
        """
        ...

    def create(self, folder_id: str, items: Sequence[NewItem], *, notify: bool) -> list[Result]:
        """Create the items in the folder; meetings invite their attendees only with
        `notify` (keeping a copy in Sent Items)."""
        ...

    def update(self, changes: Sequence[ItemChange], *, notify: bool) -> list[Result]:
        """Overwrite the items' synced fields, by change key (a stale one: `ItemConflictError`
        for that item); with `notify`, meetings send updates to the attendees concerned."""
        ...

    def delete(
        self, ids: Sequence[str], *, mode: DeleteMode, notify: bool
    ) -> list[SyncError | None]:
        """Delete the items; with `notify`, meetings send their attendees a cancellation."""
        ...

    def find_stamped(self, folder_id: str, record_ids: Sequence[int]) -> dict[int, ItemRef]:
        """{record id: item} of the items in the folder that carry one of these record ids."""
        ...

    def stamp(self, items: Sequence[tuple[ItemRef, int]]) -> list[Result]:
        """Write the CRM record id on existing items (whatever else changed meanwhile).
        The pull calls it from a helper thread while it writes the next page: it must not
        touch the database. An item whose write was throttled or met a server error is
        answered that `TransientSyncError` when the others' writes stand (a `$batch`), so
        that they are kept; the caller postpones the rest."""
        ...

    def write_exceptions(
        self,
        folder_id: str,
        series_id: str,
        canonical: Canonical,
        *,
        mode: DeleteMode,
        notify: bool,
    ) -> None:
        """Make the modified and deleted occurrences of the series `series_id` on the server
        those of `canonical` (`modified_occurrences`, `deleted_occurrences`); an occurrence
        that cannot be found is skipped. Types without series never call it."""
        ...


@dataclass(frozen=True)
class MarksRoom:
    """How many CRM record ids the mailbox may still write on its items now, within the
    server's request budget (`items`), and when more room frees up (`from_at`)."""

    items: int
    from_at: dt.datetime


class MailboxConnector(Protocol):
    """One mailbox on one server, for one sync cycle."""

    # The `FolderSyncState.Protocol` its folders' cursors are stored under ("ews").
    protocol: ClassVar[str]

    def items(self, kind: ItemKind) -> ItemConnector:
        """The connector of one item type of this mailbox."""
        ...

    def test(self, folder_ids: Sequence[str]) -> None:
        """Log in and open these folders (well-known names or ids); raise what fails."""
        ...

    def room_for_marks(self) -> MarksRoom | None:
        """What the server's request budget leaves the marks written after the pull
        (`mailboxes/sync/stamps.py`), shared by every worker; None: no budget applies."""
        ...


__all__ = [
    "Canonical",
    "ChangePage",
    "CursorLostError",
    "DeleteMode",
    "FolderInfo",
    "FolderNotFoundError",
    "ItemChange",
    "ItemConflictError",
    "ItemConnector",
    "ItemKind",
    "ItemNotFoundError",
    "ItemRef",
    "MailboxConnector",
    "MarksRoom",
    "NewItem",
    "RemoteItem",
    "Result",
    "Saved",
]
