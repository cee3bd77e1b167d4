"""Folders and item operations of one EWS mailbox, page by page, with errors translated.

Distinguished folders (calendar, contacts, tasks, inbox, ...) are addressed by their
distinguished id, so opening one costs no request; other folders by their stored id.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from exchangelib import Account, ItemId
from exchangelib.errors import (
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    MalformedResponseError,
    SOAPError,
)
from exchangelib.fields import FieldPath
from exchangelib.folders import (
    Calendar,
    Contacts,
    DeletedItems,
    Folder,
    FolderCollection,
    Inbox,
    Outbox,
    Root,
    SentItems,
    Tasks,
)
from exchangelib.folders.base import BaseFolder
from exchangelib.items import (
    ID_ONLY,
    SEND_TO_ALL_AND_SAVE_COPY,
    SEND_TO_CHANGED_AND_SAVE_COPY,
    SEND_TO_NONE,
    BaseItem,
)
from exchangelib.services import GetItem, SyncFolderItems, UpdateItem
from exchangelib.services.common import folder_ids_element, shape_element
from exchangelib.util import SOAPNS, ParseError, add_xml_child, create_element, to_xml

from mailboxes.connectors.ews.errors import exchange_errors, raise_if_error

# SyncFolderItems accepts 1..512 changes a page.
MAX_CHANGES_PER_PAGE = 512

DISTINGUISHED: dict[str, type[Folder]] = {
    "calendar": Calendar,
    "contacts": Contacts,
    "tasks": Tasks,
    "inbox": Inbox,
    "sentitems": SentItems,
    "deleteditems": DeletedItems,
    "outbox": Outbox,
}

CREATE = SyncFolderItems.CREATE
UPDATE = SyncFolderItems.UPDATE
DELETE = SyncFolderItems.DELETE
READ_FLAG_CHANGE = SyncFolderItems.READ_FLAG_CHANGE


def root_of(account: Account) -> Root:
    """The message folder root, without the GetFolder exchangelib would send to find it."""
    return Root(account=account)


def open_folder(account: Account, folder_id: str) -> BaseFolder:
    """A folder by distinguished name ("calendar") or by EWS id, without a request."""
    folder_class = DISTINGUISHED.get(folder_id)
    if folder_class is not None:
        folder = folder_class(root=root_of(account))
        # Fix the distinguished id now: exchangelib sets it lazily while building a request,
        # which changes the folder's hash under its own paging bookkeeping.
        folder.to_id()
        return folder
    return Folder(root=root_of(account), id=folder_id)


def fetch_folders(account: Account, folder_ids: Sequence[str]) -> list[BaseFolder]:
    """GetFolder for these folders: proves they exist and that we may open them."""
    folders = [open_folder(account, folder_id) for folder_id in folder_ids]
    with exchange_errors():
        resolved = list(FolderCollection(account=account, folders=folders).resolve())
    for result in resolved:
        raise_if_error(result)
    return resolved


class _WholeBody:
    """Parse a response body in one piece.

    exchangelib reads a non-streamed response through `iter_content()`, whose default chunk
    is one byte: about a third of the client's time on a page of 512 items. The body is
    already in memory, so it is handed to the parser whole.
    """

    @classmethod
    def _get_soap_parts(cls, response: Any) -> Any:
        try:
            root = to_xml(response.content)
        except ParseError as e:
            raise SOAPError(f"Bad SOAP response: {e}") from e
        body = root.find(f"{{{SOAPNS}}}Body")
        if body is None:
            raise MalformedResponseError("No Body element in SOAP response")
        return root.find(f"{{{SOAPNS}}}Header"), body


class _GetItem(_WholeBody, GetItem):
    """GetItem parsing the response body in one piece."""


class _UpdateItem(UpdateItem):
    """UpdateItem answering a stale change key per item, as the other per-item refusals.

    exchangelib raises ErrorIrresolvableConflict for the whole request, which loses the
    results of the batch's other items (written, but their new change keys unknown)."""

    ERRORS_TO_CATCH_IN_RESPONSE = (
        *UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE,
        ErrorIrresolvableConflict,
    )


class _SyncFolderItems(_WholeBody, SyncFolderItems):
    """SyncFolderItems parsing the response body in one piece."""

    # The ItemShape element of a request, per (shape, fields, API version): exchangelib
    # rebuilds it field by field for every request, which costs more than parsing an idle
    # folder's answer.
    _shapes: ClassVar[dict[tuple[Any, ...], Any]] = {}

    def _partial_get_payload(
        self, folder: Any, shape: str, additional_fields: Any, sync_state: str | None
    ) -> Any:
        payload = create_element(f"m:{self.SERVICE_NAME}")
        version = self.account.version
        key = (shape, frozenset(additional_fields or ()), version.api_version)
        cached = self._shapes.get(key)
        if cached is None:
            cached = shape_element(
                tag=self.shape_tag,
                shape=shape,
                additional_fields=additional_fields,
                version=version,
            )
            self._shapes[key] = cached
        payload.append(copy.deepcopy(cached))
        payload.append(folder_ids_element(folders=[folder], version=version, tag="m:SyncFolderId"))
        if sync_state:
            add_xml_child(payload, "m:SyncState", sync_state)
        return payload


class _SyncIds(_SyncFolderItems):
    """SyncFolderItems of an ID-only page whose created and updated items are read by
    GetItem next: their id and change key are taken from the answer as they are, without
    making an exchangelib item of each (which costs more than parsing the page)."""

    def _elem_to_obj(self, elem: Any) -> Any:
        change_type = self.change_types_map[elem.tag]
        if change_type in (CREATE, UPDATE):
            found = elem[0].find(ItemId.response_tag())
            if found is not None:
                return change_type, ItemId(id=found.get("Id"), changekey=found.get("ChangeKey"))
        return super()._elem_to_obj(elem)


@dataclass
class SyncPage:
    """One SyncFolderItems answer: its changes and where the next page starts."""

    changes: list[tuple[str, Any]] = field(default_factory=list)
    sync_state: str = ""
    includes_last_item_in_range: bool = True


def fetch_sync_page(
    folder: BaseFolder,
    sync_state: str | None,
    *,
    max_changes: int = MAX_CHANGES_PER_PAGE,
    only_fields: Iterable[str] | None = None,
    get_fields: Sequence[str] | None = None,
    known: Mapping[str, str] | None = None,
) -> SyncPage:
    """One page of changes after `sync_state` (None: from the beginning).

    `known`: {item id: change key} of versions the caller already has (written itself);
    an update to exactly that version is left out of the page, with no GetItem.

    SyncFolderItems, like FindItem, returns no bodies, attachments, recipient or attendee
    lists, recurrences or occurrence lists, and cuts long strings. With `get_fields`, the
    page is asked for ids only and its created and updated items are then fetched whole,
    with those fields, by GetItem in batches (an item deleted in between is left out: the
    next page reports its deletion). With `only_fields` instead, the items carry only what
    SyncFolderItems returns of those fields. Deleted items come as an ItemId. Raises
    `InvalidSyncStateError` when the server rejects the state.
    """
    account = folder.account
    if get_fields is not None:
        additional_fields: set[FieldPath] | None = None
    elif only_fields is None:
        additional_fields = {
            FieldPath(field=f) for f in folder.allowed_item_fields(version=account.version)
        }
    else:
        additional_fields = _item_fields(folder, tuple(only_fields))
    service = (_SyncFolderItems if get_fields is None else _SyncIds)(account=account)
    with exchange_errors():
        changes = list(
            service.call(
                folder=folder,
                shape=ID_ONLY,
                additional_fields=additional_fields,
                sync_state=sync_state,
                ignore=None,
                max_changes_returned=max(1, min(max_changes, MAX_CHANGES_PER_PAGE)),
                sync_scope=None,
            )
        )
    for change in changes:
        raise_if_error(change)
    if known:
        changes = [
            (kind, item)
            for kind, item in changes
            if kind != UPDATE or known.get(item.id) != item.changekey
        ]
    if get_fields is not None:
        changes = _with_whole_items(folder, changes, tuple(get_fields))
    return SyncPage(
        changes=changes,
        sync_state=service.sync_state or "",
        includes_last_item_in_range=bool(service.includes_last_item_in_range),
    )


# Items a GetItem asks for (exchangelib's own chunk size).
GET_ITEM_BATCH = 100


def _with_whole_items(
    folder: BaseFolder, changes: list[tuple[str, Any]], fields: tuple[str, ...]
) -> list[tuple[str, Any]]:
    """The page's changes, created and updated items replaced by their GetItem answer."""
    wanted = [item for kind, item in changes if kind in (CREATE, UPDATE)]
    if not wanted:
        return changes
    account = folder.account
    paths = _item_fields(folder, fields)
    service = _GetItem(account=account, chunk_size=GET_ITEM_BATCH)
    with exchange_errors():
        fetched = list(
            service.call(
                items=[ItemId(id=i.id, changekey=i.changekey) for i in wanted],
                additional_fields=paths,
                shape=ID_ONLY,
            )
        )
    whole: dict[str, Any] = {}
    for item in fetched:
        if isinstance(item, ErrorItemNotFound):
            continue  # deleted since the page was made
        raise_if_error(item)
        whole[item.id] = item
    result = []
    for kind, item in changes:
        if kind in (CREATE, UPDATE):
            item = whole.get(item.id)
            if item is None:
                continue
        result.append((kind, item))
    return result


def sync_pages(
    folder: BaseFolder,
    sync_state: str | None,
    *,
    only_fields: Iterable[str] | None = None,
    get_fields: Sequence[str] | None = None,
    known: Mapping[str, str] | None = None,
) -> Iterator[SyncPage]:
    """Every page of changes after `sync_state` (see `fetch_sync_page` for the fields);
    from the second page on, the next one is fetched while the caller works on the current
    one (one page ahead, one helper thread).

    The caller's database work and the server's and parser's work on the next page overlap;
    nothing here touches the database. The first page is fetched in the caller's thread, so
    an idle folder (one page) starts no thread. An error fetching a page is raised when the
    caller asks for that page. Closing the iterator early waits for the request in flight.
    """
    fields = tuple(only_fields) if only_fields is not None else None
    whole = tuple(get_fields) if get_fields is not None else None

    def fetch(state: str | None) -> SyncPage:
        return fetch_sync_page(folder, state, only_fields=fields, get_fields=whole, known=known)

    page = fetch(sync_state)
    if page.includes_last_item_in_range or not page.changes:
        yield page
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ews-prefetch") as pool:
        while True:
            last = page.includes_last_item_in_range or not page.changes
            ahead: Future[SyncPage] | None = None if last else pool.submit(fetch, page.sync_state)
            yield page
            if ahead is None:
                return
            page = ahead.result()


_FIELDS: dict[tuple[Any, ...], set[FieldPath]] = {}


def _item_fields(folder: BaseFolder, names: tuple[str, ...]) -> set[FieldPath]:
    """The field paths a SyncFolderItems asks for, per folder class and version (cached)."""
    key = (type(folder), names, folder.account.version.api_version)
    fields = _FIELDS.get(key)
    if fields is None:
        fields = {
            f for f in folder.normalize_fields(fields=list(names)) if not f.field.is_attribute
        }
        _FIELDS[key] = fields
    return set(fields)


def get_items(
    folder: BaseFolder,
    ids: Sequence[tuple[str, str | None]],
    *,
    only_fields: Sequence[str] | None = None,
) -> list[Any]:
    """GetItem for (id, change key) pairs; missing items come back as exception objects."""
    if not ids:
        return []
    with exchange_errors():
        return list(
            folder.account.fetch(
                ids=[ItemId(id=i, changekey=ck) for i, ck in ids],
                folder=folder,
                only_fields=list(only_fields) if only_fields is not None else None,
            )
        )


def save_new(
    items: Sequence[BaseItem], folder: BaseFolder, *, send_invitations: bool = False
) -> list[Any]:
    """CreateItem in `folder` for each item, in one request; meetings invite their attendees
    only with `send_invitations` (keeping a copy in Sent Items)."""
    if not items:
        return []
    account = folder.account
    with exchange_errors():
        return list(
            account.bulk_create(
                folder=folder,
                items=list(items),
                message_disposition="SaveOnly",
                send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY
                if send_invitations
                else SEND_TO_NONE,
            )
        )


def save_changes(
    items: Sequence[tuple[BaseItem, list[str]]], account: Account, *, send_updates: bool = False
) -> list[Any]:
    """UpdateItem with each item's change key, so a concurrent change in Exchange is refused;
    with `send_updates`, meetings send updates to the attendees concerned by the change."""
    if not items:
        return []
    with exchange_errors():
        return list(
            _UpdateItem(account=account).call(
                items=list(items),
                conflict_resolution="NeverOverwrite",
                message_disposition="SaveOnly",
                send_meeting_invitations_or_cancellations=SEND_TO_CHANGED_AND_SAVE_COPY
                if send_updates
                else SEND_TO_NONE,
                suppress_read_receipts=True,
            )
        )


def delete_items(
    account: Account,
    ids: Sequence[tuple[str, str | None]],
    *,
    mode: str,
    send_cancellations: bool = False,
) -> list[Any]:
    """DeleteItem in the mode the mailbox chose: hard, soft or move to Deleted Items; with
    `send_cancellations`, meetings send their attendees a cancellation."""
    if not ids:
        return []
    delete_type = {
        "hard": "HardDelete",
        "soft": "SoftDelete",
        "move_to_deleted_items": "MoveToDeletedItems",
    }[mode]
    with exchange_errors():
        return list(
            account.bulk_delete(
                ids=[ItemId(id=i, changekey=ck) for i, ck in ids],
                delete_type=delete_type,
                send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY
                if send_cancellations
                else SEND_TO_NONE,
                affected_task_occurrences="AllOccurrences",
                suppress_read_receipts=True,
            )
        )
