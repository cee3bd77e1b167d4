"""Server → CRM: a folder's changes page by page from its stored cursor, each page and its
cursor in one transaction, so a crash replays at most one page and the mapping table makes
the replay a no-op. What one page does is in `page.py` (load, decide, write).

The server gives an item a new id when it moves (a soft delete and a restore are moves too),
so every item the CRM writes or links carries its record's id (`ItemConnector.stamp`): an
unmapped item that carries one re-links to that record's mapping, and a mapped item that
vanished from a folder is looked for by it in the type's other folders before it counts as
deleted. Where ids survive moves (Graph), the marks are written after the pull instead, a
budget a cycle (`stamps.py`); here only an item gone before its mark is marked at once.
Elsewhere (EWS) each page's items are marked once it is committed (`StampWriter`); a mark
that failed is left flagged for `stamps.py` too.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Field
from django.utils import timezone

from mailboxes.connectors.base import CursorLostError, ItemNotFoundError, Result, Saved
from mailboxes.itemtypes.common import R
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, FolderSyncState
from mailboxes.sync.context import CycleContext
from mailboxes.sync.page import Stamp, apply_page
from mailboxes.sync.records import TypeSync
from mailboxes.sync.stamps import write_now

logger = logging.getLogger(__name__)


def pull_folder(
    ts: TypeSync[R],
    ctx: CycleContext,
    folder_id: str,
    folder_name: str,
    state: FolderSyncState | None = None,
    stamps: StampWriter | None = None,
) -> FolderSyncState:
    """Pull one folder's changes since its stored cursor (`state`, if the caller loaded it).

    The marks go through the cycle's `stamps` writer, whose last page of marks is still in
    flight when this returns (the caller waits for it); without one, through a writer of
    this pull, waited for before returning."""
    if state is None:
        state, _ = FolderSyncState.objects.get_or_create(
            mailbox=ts.mailbox,
            protocol=ts.protocol,
            folder_id=folder_id,
            defaults={"item_type": ts.kind.item_type, "folder_name": folder_name},
        )
    if ctx.full_resync:
        state.sync_state = ""
    full = not state.sync_state
    cursor: str | None = state.sync_state or None
    seen: set[str] = set()
    written: dict[str, str] = {}  # item id → change key we hold, for a full pull
    done = 0
    own = stamps is None
    writer = StampWriter() if stamps is None else stamps
    try:
        while True:
            try:
                # The next page downloads while this one is written (the connector runs
                # ahead), and the previous page's items are marked meanwhile.
                linkable = cursor is not None or record_ids_link(ts)
                pages = ts.connector.changes(folder_id, cursor, skip=written, stamps=linkable)
                for page in pages:
                    ctx.heartbeat()
                    if not page.changed and not page.deleted and page.cursor == cursor:
                        continue  # nothing new and the same cursor: nothing to write
                    if full:
                        seen.update(item.id for item in page.changed)
                    with transaction.atomic():
                        todo: list[Stamp] = []
                        held: dict[str, str] = {}
                        if page.changed or page.deleted:
                            # Not for a new cursor alone (an idle folder's delta link).
                            todo, doomed, held = apply_page(
                                ts, page.changed, page.deleted, folder_id, ctx.heartbeat
                            )
                            exchange_deleted(ts, doomed)
                        state.sync_state = page.cursor
                        state.last_synced_at = timezone.now()
                        if page.complete:
                            state.is_initial_sync_complete = True
                        state.save(
                            update_fields=[
                                "sync_state",
                                "last_synced_at",
                                "is_initial_sync_complete",
                                "modified_at",
                            ]
                        )
                    cursor = page.cursor
                    if full:
                        written.update(held)
                    # Marks only ever name committed records (see `page.stamps_to_write`).
                    marked = writer.send(ts, folder_id, todo)
                    if full:
                        # Marking the items with their record ids made them change: the
                        # same sync reports that version again, which needs no second
                        # reading.
                        written.update(marked)
                    done += len(page.changed) + len(page.deleted)
                    ctx.report_progress(f"{ts.kind.item_type}s from {folder_name}", done, None)
                break
            except CursorLostError:
                if cursor is None:
                    raise
                logger.warning(
                    "mailbox %s folder %s: cursor refused, resyncing in full",
                    ts.mailbox.pk,
                    folder_name,
                )
                writer.wait()
                cursor, full, seen = None, True, set()
        if own:
            writer.wait()
    finally:
        if own:
            writer.close()
    if full:
        forget_vanished(ts, folder_id, seen)
    return state


def record_ids_link(ts: TypeSync[R]) -> bool:
    """Whether a record id an item carries can link it to anything: a mapping of the type
    (a full resync, a mailbox moved from EWS) or a record of the owner (a mailbox added
    again). A first sync of a new mailbox needs none, and over Graph reading them costs a
    listing of each folder."""
    return ts.mappings().exists() or ts.records().exists()


def forget_vanished(ts: TypeSync[R], folder_id: str, seen: set[str]) -> None:
    """After a full pull: mapped items the server no longer has were deleted meanwhile.

    The folder's mapped ids are compared with those seen here rather than by the database:
    excluding every id seen made a statement of one parameter per item of the folder, whose
    compilation cost a tenth of an initial sync of 17,000 items."""
    mapped = (
        ts.mappings()
        .filter(exchange_folder_id=folder_id, is_deleted_in_exchange=False)
        .exclude(exchange_item_id__startswith="pending:")
    )
    gone = [
        pk for pk, item_id in mapped.values_list("pk", "exchange_item_id") if item_id not in seen
    ]
    if not gone:
        return
    vanished = [m for m in mapped.filter(pk__in=gone) if m.exchange_item_id not in seen]
    if vanished:
        with transaction.atomic():
            exchange_deleted(ts, vanished)


def exchange_deleted(ts: TypeSync[R], mappings: list[ExchangeSyncIdMapping]) -> None:
    """Items deleted (or moved away) on the server: delete in the CRM only where enabled.

    An item moved to another of the type's folders has a new id there: it is found by the
    record id it carries and its mapping follows it instead."""
    if not mappings:
        return
    unmarked = [(m.pk, m.crm_object_id, m.exchange_item_id) for m in mappings if m.stamp_pending]
    if unmarked:
        # Not marked yet (`stamps.py`), so not findable by its record id: its id still
        # reaches it wherever it went, so it is marked now (an item gone answers 404).
        write_now(ts.mailbox, ts.connector, unmarked)
    moved: dict[int, tuple[str, str]] = {}
    folder_ids = FolderSyncState.objects.filter(
        mailbox=ts.mailbox, protocol=ts.protocol, item_type=ts.kind.item_type
    ).values_list("folder_id", flat=True)
    for other in folder_ids:
        missing = [m.crm_object_id for m in mappings if m.crm_object_id not in moved]
        if not missing:
            break
        found = ts.connector.find_stamped(other, missing)
        moved.update({record_id: (ref.id, other) for record_id, ref in found.items()})
    followed = [m for m in mappings if m.crm_object_id in moved]
    for m in followed:
        m.exchange_item_id, m.exchange_folder_id = moved[m.crm_object_id]
        m.last_synced_at = timezone.now()
    if followed:
        # Keep the old change key: the item's Create in its new folder is then compared.
        ExchangeSyncIdMapping.objects.bulk_update(
            followed, ["exchange_item_id", "exchange_folder_id", "last_synced_at"]
        )
    mappings = [m for m in mappings if m.crm_object_id not in moved]
    if not mappings:
        return
    if ts.options.delete_exchange_to_crm:
        record_ids = [m.crm_object_id for m in mappings]
        ExchangeSyncIdMapping.objects.filter(pk__in=[m.pk for m in mappings]).delete()
        ts.model._default_manager.filter(pk__in=record_ids).delete()
    else:
        for m in mappings:
            m.is_deleted_in_exchange = True
            m.to_crm_change_type = ChangeType.DELETE
            m.last_synced_at = timezone.now()
        ExchangeSyncIdMapping.objects.bulk_update(
            mappings, ["is_deleted_in_exchange", "to_crm_change_type", "last_synced_at"]
        )
    ts.processed += len(mappings)


# Change keys set per UPDATE statement (four parameters each) after a page's marks.
KEYS_PER_UPDATE = 250


class StampWriter:
    """Marks the pages' items with their record ids (`ItemConnector.stamp`), one page's
    marks in flight in a helper thread while the caller writes the next page, as the
    connector fetches the next page meanwhile: the server's work on the marks and the
    database's on the page overlap. One writer serves a whole cycle, so the last page's
    marks of a folder overlap the next folder's pull too. Their change keys go into the
    mappings in the caller's thread (the helper never touches the database).

    One request at a time: a page's marks are sent once the previous page's are answered,
    so the writer adds at most one request to the caller's own (the mailbox's concurrency
    gate, `connectors/ews/concurrency.py`, holds them in line where the server allows one).
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[TypeSync[Any], str, list[Stamp], Future[list[Result]]] | None = None

    def send(self, ts: TypeSync[R], folder_id: str, todo: list[Stamp]) -> dict[str, str]:
        """Send these marks of `folder_id`'s items; wait for the previous page's and return
        their new change keys ({item id: change key}, also stored on the mappings) if they
        were of the same folder."""
        previous = self._pending[1] if self._pending is not None else None
        done = self.wait()
        if todo:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stamps")
            self._pending = (ts, folder_id, todo, self._pool.submit(ts.connector.stamp, todo))
        return done if previous == folder_id else {}

    def wait(self) -> dict[str, str]:
        """Wait for the marks in flight; store and return their new change keys."""
        if self._pending is None:
            return {}
        ts, _, todo, future = self._pending
        self._pending = None
        return record_stamps(ts, todo, future.result())

    def close(self) -> None:
        """Wait for a request still in flight (after an error its answer is dropped: its
        mappings keep their `stamp_pending` flag, and a later cycle writes them)."""
        self._pending = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def record_stamps(ts: TypeSync[R], todo: list[Stamp], results: list[Result]) -> dict[str, str]:
    """Keep the change key each mark gave on its mapping, unless the mapping moved on to
    another version meanwhile (a later page saw the item changed again), and clear the
    `stamp_pending` flag of those written or gone (a failed one keeps it: a later cycle
    writes it, `stamps.py`). Returns the new change keys by item id."""
    rows: dict[str, tuple[str, str]] = {}  # item id → (change key held, the one to hold)
    keys: dict[str, str] = {}
    for (ref, record_id), result in zip(todo, results, strict=True):
        if isinstance(result, Saved):
            new = result.change_key or ref.change_key
            rows[ref.id] = (ref.change_key, new)
            if result.change_key:
                keys[ref.id] = result.change_key
        elif isinstance(result, ItemNotFoundError):
            rows[ref.id] = (ref.change_key, ref.change_key)  # gone: the pull sees it so
        else:
            logger.warning(
                "mailbox %s: could not mark item of record %s (tried again later): %s",
                ts.mailbox.pk,
                record_id,
                result,
            )
    flat = [(i, old, new) for i, (old, new) in rows.items()]
    with transaction.atomic():
        for start in range(0, len(flat), KEYS_PER_UPDATE):
            _set_change_keys(ts, flat[start : start + KEYS_PER_UPDATE])
    return keys


def _set_change_keys(ts: TypeSync[R], rows: list[tuple[str, str, str]]) -> None:
    """One UPDATE for (item id, change key held, new change key) rows of the type's mappings,
    which also clears their `stamp_pending` flags.

    In SQL: building a `Case` of a When per row through the ORM costs several times the
    statement itself, and as much as the rest of the page's writes together."""
    meta = ExchangeSyncIdMapping._meta
    connection = connections[router.db_for_write(ExchangeSyncIdMapping)]
    qn = connection.ops.quote_name

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.column
        return str(qn(field.column))

    item, key, mailbox, content_type, pending = (
        column(name)
        for name in (
            "exchange_item_id",
            "change_key",
            "mailbox",
            "crm_content_type",
            "stamp_pending",
        )
    )
    cases = " ".join([f"WHEN {item} = %s AND {key} = %s THEN %s"] * len(rows))
    marks = ", ".join(["%s"] * len(rows))
    # Only quoted table and column names are interpolated; values are parameters.
    sql = (
        f"UPDATE {qn(meta.db_table)} SET {key} = CASE {cases} ELSE {key} END, "  # noqa: S608
        f"{pending} = %s WHERE {mailbox} = %s AND {content_type} = %s AND {item} IN ({marks})"
    )
    params: list[Any] = [value for row in rows for value in row]
    params += [False, ts.mailbox.pk, ts.content_type.pk, *(i for i, _, _ in rows)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
