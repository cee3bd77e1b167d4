"""The EWS implementation of the connector seam (`mailboxes/connectors/base.py`).

Pages are SyncFolderItems answers whose created and updated items are then read whole by
GetItem (`folders.sync_pages`, one page ahead); a page's series with modified occurrences
get one more GetItem for the occurrences' own fields (`occurrences.py`). Occurrences and
exceptions of a series are left out of a page: they come inside their master's canonical
form. Items carry their CRM record id in a named property (`stamp.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from exchangelib import Account

from mailboxes.connectors import PermanentSyncError, SyncError
from mailboxes.connectors.base import (
    Canonical,
    ChangePage,
    DeleteMode,
    FolderInfo,
    ItemChange,
    ItemKind,
    ItemRef,
    NewItem,
    RemoteItem,
    Result,
    Saved,
)
from mailboxes.connectors.ews.account import account_for
from mailboxes.connectors.ews.converters import CONVERTERS
from mailboxes.connectors.ews.errors import classify
from mailboxes.connectors.ews.folders import (
    CREATE,
    DELETE,
    UPDATE,
    SyncPage,
    delete_items,
    fetch_folders,
    open_folder,
    save_changes,
    save_new,
    sync_pages,
)
from mailboxes.connectors.ews.listing import folders_below
from mailboxes.connectors.ews.occurrences import modified_occurrences, push_exceptions
from mailboxes.connectors.ews.stamp import FIELD as STAMP_FIELD
from mailboxes.connectors.ews.stamp import find_stamped, record_id_of, stamp, stamp_existing
from mailboxes.itemtypes.common import parse_utc, utc_iso

if TYPE_CHECKING:
    from mailboxes.channels import Channel
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext

# The folder class of each item type's folders (a folder without one is taken as such).
FOLDER_CLASSES = {"appointment": "IPF.Appointment", "contact": "IPF.Contact", "task": "IPF.Task"}
# Members of a series, listed by SyncFolderItems beside their master.
_SERIES_MEMBERS = ("Occurrence", "Exception")


def item_error(result: BaseException) -> SyncError:
    """A per-item failure as a connector error (one we cannot classify: a refusal)."""
    translated = classify(result)
    if translated is not None:
        return translated
    return PermanentSyncError(
        f"{type(result).__name__}: {result}", code=type(result).__name__, affects_mailbox=False
    )


def _saved(result: Any) -> Result:
    if isinstance(result, BaseException):
        return item_error(result)
    if isinstance(result, tuple):
        return Saved(str(result[0]), str(result[1] or ""))
    return Saved(str(result.id), str(result.changekey or ""))


class EwsItemConnector:
    """One item type of one mailbox over EWS (`ItemConnector`)."""

    silent_meeting_changes: ClassVar[bool] = True
    # A moved item gets a new id: the engine writes the record id with the page.
    ids_survive_moves: ClassVar[bool] = False

    def __init__(self, account: Account, kind: ItemKind) -> None:
        self.account = account
        self.kind = kind
        self.converter = CONVERTERS[kind.item_type]

    def folders_below(self, folder_id: str) -> list[FolderInfo]:
        folder_class = FOLDER_CLASSES[self.kind.item_type]
        return [
            FolderInfo(folder.id, folder.name or "")
            for folder in folders_below(self.account, folder_id, ("name", "folder_class"))
            # exactly the type's class: a user's folder; Exchange's own (Recipient Cache,
            # GAL Contacts, Birthdays, ...) carry a more specific one and are not synced
            if (folder.folder_class or folder_class) == folder_class
        ]

    def changes(
        self,
        folder_id: str,
        cursor: str | None,
        *,
        skip: Mapping[str, str] | None = None,
        stamps: bool = True,
    ) -> Iterator[ChangePage]:
        # The stamp comes with each item (one more field of the request): always read.
        folder = open_folder(self.account, folder_id)
        fields = (*self.converter.ews_fields, STAMP_FIELD)
        for page in sync_pages(folder, cursor, get_fields=fields, known=skip):
            yield self._page(folder, folder_id, page)

    def _page(self, folder: Any, folder_id: str, page: SyncPage) -> ChangePage:
        upserts = [
            item
            for change, item in page.changes
            if change in (CREATE, UPDATE) and getattr(item, "type", None) not in _SERIES_MEMBERS
        ]
        # The modified occurrences' own fields, for every series on the page (one GetItem).
        series = [item for item in upserts if getattr(item, "modified_occurrences", None)]
        exceptions = modified_occurrences(folder, series) if series else {}
        return ChangePage(
            changed=tuple(self._remote(item, folder_id, exceptions) for item in upserts),
            deleted=tuple(item.id for change, item in page.changes if change == DELETE),
            cursor=page.sync_state,
            complete=page.includes_last_item_in_range,
        )

    def _remote(self, item: Any, folder_id: str, exceptions: dict[str, Any]) -> RemoteItem:
        return RemoteItem(
            id=item.id,
            change_key=item.changekey or "",
            canonical=self.converter.item_canonical(item, exceptions),
            folder_id=folder_id,
            record_id=record_id_of(item),
            ical_uid=getattr(item, "uid", None) or "",
            modified_at=parse_utc(utc_iso(item.last_modified_time)),
            sent=bool(getattr(item, "meeting_request_was_sent", False)),
        )

    def _build(self, canonical: Canonical, folder: Any) -> Any:
        return self.converter.build_item(canonical, folder=folder)

    def create(self, folder_id: str, items: Sequence[NewItem], *, notify: bool) -> list[Result]:
        if not items:
            return []
        folder = open_folder(self.account, folder_id)
        built = []
        for new in items:
            item = self._build(new.canonical, folder)
            if new.ical_uid:
                item.uid = new.ical_uid
            stamp(item, new.record_id)  # a move gives the item a new id; this finds it again
            built.append(item)
        return [_saved(r) for r in save_new(built, folder, send_invitations=notify)]

    def update(self, changes: Sequence[ItemChange], *, notify: bool) -> list[Result]:
        if not changes:
            return []
        folder = open_folder(self.account, self.kind.default_folder)
        fields = list(self.converter.update_fields)
        built = []
        for change in changes:
            item = self._build(change.canonical, folder)
            item.id, item.changekey = change.ref.id, change.ref.change_key
            built.append((item, fields))
        return [_saved(r) for r in save_changes(built, self.account, send_updates=notify)]

    def delete(
        self, ids: Sequence[str], *, mode: DeleteMode, notify: bool
    ) -> list[SyncError | None]:
        results = delete_items(
            self.account, [(i, None) for i in ids], mode=mode, send_cancellations=notify
        )
        return [item_error(r) if isinstance(r, BaseException) else None for r in results]

    def find_stamped(self, folder_id: str, record_ids: Sequence[int]) -> dict[int, ItemRef]:
        found = find_stamped(open_folder(self.account, folder_id), record_ids)
        return {record_id: ItemRef(*ref) for record_id, ref in found.items()}

    def stamp(self, items: Sequence[tuple[ItemRef, int]]) -> list[Result]:
        refs = [(ref.id, ref.change_key or None, rid) for ref, rid in items]
        return [_saved(r) for r in stamp_existing(self.account, self.converter.ews_class, refs)]

    def write_exceptions(
        self,
        folder_id: str,
        series_id: str,
        canonical: Canonical,
        *,
        mode: DeleteMode,
        notify: bool,
    ) -> None:
        folder = open_folder(self.account, folder_id)
        push_exceptions(folder, series_id, canonical, delete_mode=mode, send=notify)


class EwsMailboxConnector:
    """One mailbox over EWS (`MailboxConnector`), on the cycle's shared exchangelib account."""

    protocol: ClassVar[str] = "ews"

    def __init__(self, account: Account) -> None:
        self.account = account

    @classmethod
    def for_mailbox(cls, mailbox: Mailbox, ctx: CycleContext | None = None) -> EwsMailboxConnector:
        return cls(ctx.ews_account() if ctx is not None else account_for(mailbox))

    def items(self, kind: ItemKind) -> EwsItemConnector:
        return EwsItemConnector(self.account, kind)

    def test(self, folder_ids: Sequence[str]) -> None:
        fetch_folders(self.account, folder_ids)

    def room_for_marks(self) -> None:
        """EWS counts no requests here: its server throttles by time spent and answers
        ErrorServerBusy with a back-off, which postpones the mailbox."""
        return None


def check_channels(mailbox: Mailbox, channels: Sequence[Channel]) -> list[str]:
    """The `ConnectionTester` over EWS: open the folders each channel reads."""
    folders = [folder for channel in channels for folder in channel.ews_folders]
    if folders:
        EwsMailboxConnector.for_mailbox(mailbox).test(folders)
    return folders
