"""Server → CRM: a folder's changes page by page from its stored cursor, each page and its
cursor in one transaction, so a crash replays at most one page and the mapping table makes
the replay a no-op. What one page does is in `page.py` (load, decide, write).

The server gives an item a new id when it moves (a soft delete and a restore are moves too),
so every item the CRM writes or links carries its record's id (`ItemConnector.stamp`): an
unmapped item that carries one re-links to that record's mapping, and a mapped item that
vanished from a folder is looked for by it in the type's other folders before it counts as
deleted.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from mailboxes.connectors.base import CursorLostError, Saved
from mailboxes.itemtypes.common import R
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, FolderSyncState
from mailboxes.sync.context import CycleContext
from mailboxes.sync.page import Stamp, apply_page
from mailboxes.sync.records import TypeSync

logger = logging.getLogger(__name__)


def pull_folder(
    ts: TypeSync[R],
    ctx: CycleContext,
    folder_id: str,
    folder_name: str,
    state: FolderSyncState | None = None,
) -> FolderSyncState:
    """Pull one folder's changes since its stored cursor (`state`, if the caller loaded it)."""
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
    while True:
        try:
            # The next page downloads while this one is written (the connector runs ahead).
            for page in ts.connector.changes(folder_id, cursor, skip=written):
                ctx.heartbeat()
                if not page.changed and not page.deleted and page.cursor == cursor:
                    continue  # nothing new and the same cursor: nothing to write
                if full:
                    seen.update(item.id for item in page.changed)
                with transaction.atomic():
                    stamps, doomed = apply_page(
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
                # Marks only ever name committed records (see `page.stamps_to_write`).
                write_stamps(ts, stamps)
                cursor = page.cursor
                if full:
                    # Marking the items with their record ids made them change: the same
                    # sync reports that version again, which needs no second reading.
                    written.update(
                        ts.mappings()
                        .filter(exchange_item_id__in=[i.id for i in page.changed])
                        .values_list("exchange_item_id", "change_key")
                    )
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
            cursor, full, seen = None, True, set()
    if full:
        forget_vanished(ts, folder_id, seen)
    return state


def forget_vanished(ts: TypeSync[R], folder_id: str, seen: set[str]) -> None:
    """After a full pull: mapped items the server no longer has were deleted meanwhile."""
    vanished = list(
        ts.mappings()
        .filter(exchange_folder_id=folder_id, is_deleted_in_exchange=False)
        .exclude(exchange_item_id__in=seen)
        .exclude(exchange_item_id__startswith="pending:")
    )
    if vanished:
        with transaction.atomic():
            exchange_deleted(ts, vanished)


def exchange_deleted(ts: TypeSync[R], mappings: list[ExchangeSyncIdMapping]) -> None:
    """Items deleted (or moved away) on the server: delete in the CRM only where enabled.

    An item moved to another of the type's folders has a new id there: it is found by the
    record id it carries and its mapping follows it instead."""
    if not mappings:
        return
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


def write_stamps(ts: TypeSync[R], todo: list[Stamp]) -> None:
    """Mark the items, keeping the change key each write gives on its mapping (one UPDATE
    for the page, not one per item)."""
    if not todo:
        return
    results = ts.connector.stamp(todo)
    keys: dict[str, str] = {}
    for (ref, record_id), result in zip(todo, results, strict=True):
        if not isinstance(result, Saved):
            logger.warning(
                "mailbox %s: could not mark item of record %s: %s",
                ts.mailbox.pk,
                record_id,
                result,
            )
        elif result.change_key:
            keys[ref.id] = result.change_key
    if keys:
        ts.mappings().filter(exchange_item_id__in=keys).update(
            change_key=Case(
                *(When(exchange_item_id=i, then=Value(k)) for i, k in keys.items()),
                default=F("change_key"),
            )
        )
