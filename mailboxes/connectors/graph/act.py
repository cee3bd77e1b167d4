"""Appointments, contacts and tasks over Microsoft Graph: the connector seam
(`mailboxes/connectors/base.py`) for a Graph profile.

Contacts are read by `contacts/delta` per contact folder, tasks by `tasks/delta` of the
default To Do list (EWS syncs the Tasks folder, which is that list), appointments by a
calendarView delta plus the series masters (`calendar.py`). Every request asks for
immutable ids (the client's `Prefer` header), so an item keeps its id when it moves or is
deleted to Deleted Items. Items carry the CRM record id in the same named property as
over EWS (`converters/common.STAMP_ID`); a delta answer has no extended properties, so
they are read by one listing of the folder's stamps when a folder is read from the start,
and by a `$batch` of the page's items on later pages (events: not at all when the engine
says no record id can link anything, `stamps=False`). Since ids survive moves, the engine
writes the stamps of the items it links after the pull (`sync/stamps.py`). A lost delta
link (410) is `CursorLostError`: the engine reads the folder again and re-links by id and
stamp.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from mailboxes.connectors import PermanentSyncError, SyncError
from mailboxes.connectors.base import (
    ChangePage,
    CursorLostError,
    DeleteMode,
    FolderInfo,
    FolderNotFoundError,
    ItemChange,
    ItemConflictError,
    ItemKind,
    ItemNotFoundError,
    ItemRef,
    NewItem,
    RemoteItem,
    Result,
    Saved,
)
from mailboxes.connectors.graph.client import BatchRequest, BatchResponse, GraphClient
from mailboxes.connectors.graph.converters import GRAPH_CONVERTERS
from mailboxes.connectors.graph.converters.common import (
    STAMP_ID,
    Json,
    parse_offset,
    stamp_of,
    stamp_property,
)
from mailboxes.connectors.graph.errors import DeltaTokenLost, GraphRequestError, ItemNotFound

if TYPE_CHECKING:
    pass

# Items per delta page (Prefer: odata.maxpagesize) and per stamp listing page.
PAGE_SIZE = 200
LISTING_PAGE = 1000
# A page with more changed items than this has the folder's stamps listed (a request per
# thousand items) rather than read item by item (a `$batch` per twenty).
LISTING_THRESHOLD = 60


def expand(prop_ids: Sequence[str]) -> str:
    """`$expand` of these single-value extended properties."""
    ors = " or ".join(f"id eq '{p}'" for p in prop_ids)
    return f"singleValueExtendedProperties($filter={ors})"


def stamp_filter(record_id: int) -> str:
    return (
        f"singleValueExtendedProperties/any(ep: ep/id eq '{STAMP_ID}' "
        f"and ep/value eq '{record_id}')"
    )


def change_key_of(resource: Json) -> str:
    """An item's change key: `changeKey` (events, contacts) or its `@odata.etag`
    (To Do tasks have no changeKey)."""
    key = resource.get("changeKey")
    if key:
        return str(key)
    etag = str(resource.get("@odata.etag") or "")
    return etag.removeprefix('W/"').removesuffix('"')


def result_of(client: GraphClient, answer: BatchResponse, path: str) -> Result:
    error = client.error_of(answer, path)
    if error is None:
        body = answer.body if isinstance(answer.body, dict) else {}
        return Saved(str(body.get("id") or ""), change_key_of(body))
    return seam_error(error)


def seam_error(error: Exception) -> SyncError:
    """A per-item failure as the seam's error types."""
    if isinstance(error, ItemNotFound):
        return ItemNotFoundError(str(error), code=error.code)
    if isinstance(error, GraphRequestError) and (
        error.status == 412 or error.graph_code == "ErrorIrresolvableConflict"
    ):
        # Not documented for these updates (ews_emulator/README.md, "Concurrency"), but
        # what Outlook answers for a change key that is not the item's: EWS's conflict.
        return ItemConflictError(str(error), code="stale_change_key")
    if isinstance(error, SyncError):
        return error
    return PermanentSyncError(str(error), code=type(error).__name__, affects_mailbox=False)


def raise_transient(results: Sequence[Result | None]) -> None:
    """A per-item answer that concerns the whole mailbox (throttled, expired token) stops
    the cycle as it would for a single request. An item gone or changed meanwhile is that
    item's answer (the seam's `ItemNotFoundError`, `ItemConflictError`), as over EWS."""
    for result in results:
        if isinstance(result, ItemNotFoundError | ItemConflictError):
            continue
        if isinstance(result, SyncError) and (
            not result.permanent or getattr(result, "affects_mailbox", False)
        ):
            raise result


def raise_mailbox_wide(results: Sequence[Result | None]) -> None:
    """What a mark's per-item answers raise: only a refusal that concerns the whole mailbox
    (an expired token, a role taken away). A throttled or failed mark is that item's answer,
    so that the marks the batch wrote are kept and the others written later
    (`mailboxes/sync/stamps.py`)."""
    for result in results:
        if isinstance(result, ItemNotFoundError | ItemConflictError):
            continue
        if isinstance(result, SyncError) and getattr(result, "affects_mailbox", False):
            raise result


def skipped(item: Json, skip: Mapping[str, str] | None) -> bool:
    """Whether the item is the version the engine wrote itself during this pull."""
    return bool(skip) and (skip or {}).get(str(item.get("id"))) == change_key_of(item)


def check_cursor(cursor: str | None) -> None:
    """A stored cursor that is not a Graph delta link (an EWS sync state kept from before
    the mailbox moved to Graph) is a lost one: the folder is read again from the start."""
    if cursor and "delta" not in cursor:
        raise CursorLostError("The stored cursor is not a Graph delta link.", code="not_a_delta")


class GraphItemConnector:
    """One item type of one mailbox over Graph: contacts and To Do tasks here, appointments
    in `calendar.GraphCalendarConnector`."""

    # Extended properties read with every item (besides the stamp).
    extra_properties: ClassVar[tuple[str, ...]] = ()
    # Graph has no SendToNone: a PATCH of a meeting that is no draft writes to its
    # attendees, deleting it cancels it (README, "Meeting invitations").
    silent_meeting_changes: ClassVar[bool] = False
    # Immutable ids (the client's `Prefer` header): the engine writes record ids later.
    ids_survive_moves: ClassVar[bool] = True

    def __init__(self, client: GraphClient, kind: ItemKind) -> None:
        self.client = client
        self.kind = kind
        self.converter = GRAPH_CONVERTERS[kind.item_type]
        self._default_folder: str | None = None

    # -- paths ---------------------------------------------------------------------------

    def collection(self, folder_id: str) -> str:
        """The path of the folder's items."""
        raise NotImplementedError

    def item_path(self, item_id: str) -> str:
        raise NotImplementedError

    def folder_path(self, folder_id: str) -> str:
        raise NotImplementedError

    @property
    def properties(self) -> tuple[str, ...]:
        return (STAMP_ID, *self.extra_properties)

    # What a delta answer leaves out and is read by a listing or a `$batch` of GETs: the
    # item's `carried` navigation property, as `expansion` expands it.
    carried: ClassVar[str] = "singleValueExtendedProperties"
    # Whether the stamp an item got over EWS is read here (`move_to_graph`).
    reads_ews_stamp: ClassVar[bool] = True

    def expansion(self) -> str:
        return expand(self.properties)

    @property
    def only_stamp_listed(self) -> bool:
        """Whether a listing reads the record id alone (events), nothing else a record needs."""
        return not self.extra_properties

    def record_id_of(self, resource: Json) -> int | None:
        return stamp_of(resource)

    # -- reading -------------------------------------------------------------------------

    def folders_below(self, folder_id: str) -> list[FolderInfo]:
        return []

    def changes(
        self,
        folder_id: str,
        cursor: str | None,
        *,
        skip: Mapping[str, str] | None = None,
        stamps: bool = True,
    ) -> Iterator[ChangePage]:
        check_cursor(cursor)
        link = cursor or f"{self.collection(folder_id)}/delta"
        params = None if cursor else {"$select": ",".join(self.converter.select)}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-listing") as pool:
            # A read from the start lists the folder's extended properties while its first
            # delta page downloads (one more of the mailbox's request slots meanwhile).
            listing = (
                pool.submit(self.first_listing, folder_id, True, stamps) if not cursor else None
            )
            known = None if listing else self.first_listing(folder_id, False, stamps)
            yield from self._pages(folder_id, link, params, skip, known, listing)

    def _pages(
        self,
        folder_id: str,
        link: str,
        params: dict[str, str] | None,
        skip: Mapping[str, str] | None,
        known: dict[str, Json] | None,
        listing: Future[dict[str, Json] | None] | None,
    ) -> Iterator[ChangePage]:
        try:
            for page in self.client.delta(link, params=params, page_size=PAGE_SIZE):
                if listing is not None:
                    known, listing = listing.result(), None
                items = [i for i in page.items if not skipped(i, skip)]
                if known is None and len(items) > LISTING_THRESHOLD:
                    known = self._listed(folder_id)  # cheaper than a GET per item
                items = self.with_properties(folder_id, items, known)
                yield ChangePage(
                    changed=tuple(self.remote(i, folder_id) for i in items),
                    deleted=tuple(page.removed),
                    cursor=page.delta_link or page.next_link or "",
                    complete=page.delta_link is not None,
                )
        except DeltaTokenLost as exc:
            raise CursorLostError(str(exc), code=exc.code) from exc
        except ItemNotFound as exc:
            raise FolderNotFoundError(str(exc), code=exc.code) from exc

    def remote(self, resource: Json, folder_id: str) -> RemoteItem:
        return RemoteItem(
            id=str(resource["id"]),
            change_key=change_key_of(resource),
            canonical=self.converter.canonical(resource),
            folder_id=folder_id,
            record_id=self.record_id_of(resource),
            modified_at=parse_offset(resource.get("lastModifiedDateTime")),
        )

    def first_listing(self, folder_id: str, start: bool, stamps: bool) -> dict[str, Json] | None:
        """What a read knows of its items' extended properties before its first page: the
        folder's listing when it reads from the start, nothing (an empty listing) when the
        engine needs no record ids and the type reads no other extended property (events),
        else None (read per page)."""
        if not stamps and self.only_stamp_listed:
            return {}
        return self._listed(folder_id) if start else None

    def _listed(self, folder_id: str) -> dict[str, Json]:
        """{item id: its extended properties} of every item of the folder that has one, in
        pages of a thousand ids: what a delta answer leaves out."""
        found: dict[str, Json] = {}
        params = {"$select": "id", "$expand": self.expansion(), "$top": str(LISTING_PAGE)}
        try:
            for item in self.client.items(self.collection(folder_id), params=params):
                props = item.get(self.carried)
                if props:
                    found[str(item["id"])] = {self.carried: props}
        except ItemNotFound as exc:
            raise FolderNotFoundError(str(exc), code=exc.code) from exc
        return found

    def with_properties(
        self, folder_id: str, items: list[Json], known: dict[str, Json] | None
    ) -> list[Json]:
        """The items with their extended properties: from the folder's listing when there
        is one, else read for each item."""
        if known is None:
            return self._read_properties(items)
        return [{**i, **known.get(str(i.get("id")), {})} for i in items]

    def _read_properties(self, items: list[Json]) -> list[Json]:
        """The page's items with their extended properties (one `$batch` per 20)."""
        if not items:
            return []
        params = f"?$select=id&$expand={quote(self.expansion())}"
        answers = self.client.batch(
            [
                BatchRequest(str(n), "GET", self.item_path(str(i["id"])) + params)
                for n, i in enumerate(items)
            ]
        )
        by_id = {a.id: a for a in answers}
        result = []
        for n, item in enumerate(items):
            answer = by_id.get(str(n))
            if answer is not None and answer.status == 404:
                continue  # deleted since the page was read: the next page says so
            if answer is not None and not answer.ok:
                error = self.client.error_of(answer, self.item_path(str(item["id"])))
                if error is not None:
                    raise error
            body = answer.body if answer is not None and isinstance(answer.body, dict) else {}
            props = body.get(self.carried) or []
            result.append({**item, self.carried: props})
        return result

    # -- writing -------------------------------------------------------------------------

    def payload(self, canonical: dict[str, Any], record_id: int | None) -> Json:
        return self.converter.payload(canonical, record_id=record_id)

    def create(self, folder_id: str, items: Sequence[NewItem], *, notify: bool) -> list[Result]:
        path = self.collection(folder_id)
        answers = self.client.batch(
            [
                BatchRequest(str(n), "POST", path, body=self.payload(new.canonical, new.record_id))
                for n, new in enumerate(items)
            ]
        )
        results = [result_of(self.client, a, path) for a in answers]
        raise_transient(results)
        return results

    def update(self, changes: Sequence[ItemChange], *, notify: bool) -> list[Result]:
        """PATCH each item, after reading its change key: Graph v1.0 documents no
        conditional update (If-Match) for these items (ews_emulator/README.md,
        "Concurrency"), so an item changed since the pull is refused here (the next pull
        reconciles it); one changed between that read and the PATCH is overwritten."""
        if not changes:
            return []
        results, todo = self.current(changes, "?$select=id")
        return self.patch(changes, results, [(n, c) for n, c, _ in todo])

    def current(
        self, changes: Sequence[ItemChange], query: str
    ) -> tuple[dict[int, Result], list[tuple[int, ItemChange, Json]]]:
        """Read the items (`query`): the refused ones by position, and those to write with
        what was read of them."""
        current = self.client.batch(
            [
                BatchRequest(str(n), "GET", self.item_path(c.ref.id) + query)
                for n, c in enumerate(changes)
            ]
        )
        results: dict[int, Result] = {}
        todo: list[tuple[int, ItemChange, Json]] = []
        for n, (change, answer) in enumerate(zip(changes, current, strict=True)):
            path = self.item_path(change.ref.id)
            seen = result_of(self.client, answer, path)
            if isinstance(seen, SyncError):
                results[n] = seen
            elif change.ref.change_key and seen.change_key != change.ref.change_key:
                results[n] = ItemConflictError(
                    "The item changed on the server since it was read.", code="stale_change_key"
                )
            else:
                todo.append((n, change, answer.body if isinstance(answer.body, dict) else {}))
        return results, todo

    def patch(
        self,
        changes: Sequence[ItemChange],
        results: dict[int, Result],
        todo: Sequence[tuple[int, ItemChange]],
    ) -> list[Result]:
        """PATCH the items of `todo`; every change's result in order."""
        answers = self.client.batch(
            [
                BatchRequest(
                    str(n), "PATCH", self.item_path(c.ref.id), body=self.payload(c.canonical, None)
                )
                for n, c in todo
            ]
        )
        for (n, change), answer in zip(todo, answers, strict=True):
            results[n] = result_of(self.client, answer, self.item_path(change.ref.id))
        ordered = [results[n] for n in range(len(changes))]
        raise_transient(ordered)
        return ordered

    def delete(
        self, ids: Sequence[str], *, mode: DeleteMode, notify: bool
    ) -> list[SyncError | None]:
        answers = self.client.batch(
            [BatchRequest(str(n), *self.delete_request(i, mode)) for n, i in enumerate(ids)]
        )
        results: list[SyncError | None] = []
        for item_id, answer in zip(ids, answers, strict=True):
            error = self.client.error_of(answer, self.item_path(item_id))
            results.append(None if error is None else seam_error(error))
        raise_transient(results)
        return results

    def delete_request(self, item_id: str, mode: DeleteMode) -> tuple[str, str]:
        """(method, path) deleting an item: to Deleted Items, or permanently."""
        if mode == DeleteMode.MOVE_TO_DELETED_ITEMS:
            return "DELETE", self.item_path(item_id)
        return "POST", f"{self.item_path(item_id)}/permanentDelete"

    def find_stamped(self, folder_id: str, record_ids: Sequence[int]) -> dict[int, ItemRef]:
        path = self.collection(folder_id)
        answers = self.client.batch(
            [
                BatchRequest(
                    str(rid),
                    "GET",
                    f"{path}?$select=id&$filter={quote(stamp_filter(rid))}",
                )
                for rid in record_ids
            ]
        )
        found: dict[int, ItemRef] = {}
        for answer in answers:
            error = self.client.error_of(answer, path)
            if isinstance(error, ItemNotFound):
                raise FolderNotFoundError(str(error), code=error.code)
            if error is not None:
                raise error
            for item in (answer.body or {}).get("value") or []:
                found.setdefault(int(answer.id), ItemRef(str(item["id"]), change_key_of(item)))
        return found

    def find_by_rest_ids(self, rest_ids: Mapping[int, str]) -> dict[int, ItemRef]:
        """{key: the item} of the items read by their REST id (an EWS id in URL-safe form;
        the answer gives its immutable id), twenty per `$batch`; one not found is left out."""
        keys = list(rest_ids)
        answers = self.client.batch(
            [
                BatchRequest(str(n), "GET", f"{self.item_path(rest_ids[key])}?$select=id")
                for n, key in enumerate(keys)
            ]
        )
        found: dict[int, ItemRef] = {}
        for answer in answers:
            if answer.status == 404 or answer.status == 400:
                continue  # gone, or not an id of this type
            error = self.client.error_of(answer)
            if error is not None:
                raise error
            body = answer.body if isinstance(answer.body, dict) else {}
            found[keys[int(answer.id)]] = ItemRef(str(body["id"]), change_key_of(body))
        return found

    def stamp(self, items: Sequence[tuple[ItemRef, int]]) -> list[Result]:
        answers = self.client.batch(
            [
                BatchRequest(
                    str(n),
                    "PATCH",
                    self.item_path(ref.id),
                    body={"singleValueExtendedProperties": [stamp_property(record_id)]},
                )
                for n, (ref, record_id) in enumerate(items)
            ]
        )
        results = [
            result_of(self.client, a, self.item_path(ref.id))
            for a, (ref, _) in zip(answers, items, strict=True)
        ]
        raise_mailbox_wide(results)
        return results

    def write_exceptions(
        self,
        folder_id: str,
        series_id: str,
        canonical: dict[str, Any],
        *,
        mode: DeleteMode,
        notify: bool,
    ) -> None:
        raise NotImplementedError(f"{self.kind.item_type}s have no series")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
