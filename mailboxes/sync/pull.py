"""Exchange → CRM: SyncFolderItems page by page, each page and its sync state in one
transaction, so a crash replays at most one page and the mapping table makes the replay a
no-op.

An Exchange item without a mapping is matched before anything is created: by iCalUId
(appointments), then by its identity (subject and times, names and email, ...) among the
owner's records that have no mapping yet. That is what keeps a full resync, a lost sync
state, or a push that died between CreateItem and saving its mapping free of duplicates.

Exchange gives an item a new id when it moves (a soft delete and a restore are moves too),
so every item the CRM writes or links carries its record's id (`connectors.ews.stamp`): an
unmapped item that carries one re-links to that record's mapping, and a mapped item that
vanished from a folder is looked for by it in the type's other folders before it counts as
deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from mailboxes.connectors.ews import InvalidSyncStateError
from mailboxes.connectors.ews.converters import Canonical, fingerprint
from mailboxes.connectors.ews.converters.common import (
    parse_utc,
    utc_iso,
)
from mailboxes.connectors.ews.folders import CREATE, DELETE, UPDATE, open_folder, sync_pages
from mailboxes.connectors.ews.occurrences import modified_occurrences
from mailboxes.connectors.ews.stamp import FIELD as STAMP_FIELD
from mailboxes.connectors.ews.stamp import find_stamped, record_id_of, stamp_existing
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, FolderSyncState
from mailboxes.sync.conflicts import Resolution, resolve_conflict
from mailboxes.sync.context import CycleContext
from mailboxes.sync.inserts import insert_new
from mailboxes.sync.records import (
    TypeSync,
    link_accounts,
    load_records,
    replace_occurrences,
    replace_parties,
)

logger = logging.getLogger(__name__)

Decision = ExchangeSyncIdMapping.UserDecision


def pull_folder(
    ts: TypeSync,
    ctx: CycleContext,
    folder_id: str,
    folder_name: str,
    state: FolderSyncState | None = None,
) -> FolderSyncState:
    """Pull one folder's changes since its stored state (`state`, if the caller loaded it)."""
    if state is None:
        state, _ = FolderSyncState.objects.get_or_create(
            mailbox=ts.mailbox,
            protocol=FolderSyncState.Protocol.EWS,
            folder_id=folder_id,
            defaults={"item_type": ts.converter.item_type, "folder_name": folder_name},
        )
    if ctx.full_resync:
        state.sync_state = ""
    full = not state.sync_state
    folder = open_folder(ts.account, folder_id)
    sync_state: str | None = state.sync_state or None
    seen: set[str] = set()
    written: dict[str, str] = {}  # item id → change key we hold, for a full pull
    done = 0
    while True:
        try:
            # The next page downloads while this one is written (sync_pages runs ahead).
            for page in sync_pages(
                folder,
                sync_state,
                get_fields=(*ts.converter.ews_fields, STAMP_FIELD),
                known=written,
            ):
                ctx.heartbeat()
                if not page.changes and page.sync_state == sync_state:
                    continue  # nothing new and the same state: nothing to write
                with transaction.atomic():
                    stamps = apply_page(
                        ts, page.changes, folder_id, seen if full else None, ctx.heartbeat
                    )
                    state.sync_state = page.sync_state
                    state.last_synced_at = timezone.now()
                    if page.includes_last_item_in_range:
                        state.is_initial_sync_complete = True
                    state.save(
                        update_fields=[
                            "sync_state",
                            "last_synced_at",
                            "is_initial_sync_complete",
                            "modified_at",
                        ]
                    )
                # Marks only ever name committed records (see `stamps_to_write`).
                write_stamps(ts, stamps)
                sync_state = page.sync_state
                if full:
                    # Marking the items with their record ids made them change: the same
                    # sync reports that version again, which needs no GetItem.
                    written.update(
                        ts.mappings()
                        .filter(exchange_item_id__in=[i.id for _, i in page.changes])
                        .values_list("exchange_item_id", "change_key")
                    )
                done += len(page.changes)
                ctx.report_progress(f"{ts.converter.item_type}s from {folder_name}", done, None)
            break
        except InvalidSyncStateError:
            if sync_state is None:
                raise
            logger.warning(
                "mailbox %s folder %s: sync state refused, resyncing in full",
                ts.mailbox.pk,
                folder_name,
            )
            sync_state, full, seen = None, True, set()
    if full:
        forget_vanished(ts, folder_id, seen)
    return state


def forget_vanished(ts: TypeSync, folder_id: str, seen: set[str]) -> None:
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


def exchange_deleted(ts: TypeSync, mappings: list[ExchangeSyncIdMapping]) -> None:
    """Items deleted (or moved away) in Exchange: delete in the CRM only where enabled.

    An item moved to another of the type's folders has a new id there: it is found by the
    record id it carries and its mapping follows it instead."""
    if not mappings:
        return
    moved: dict[int, tuple[str, str]] = {}
    folder_ids = FolderSyncState.objects.filter(
        mailbox=ts.mailbox, protocol=FolderSyncState.Protocol.EWS, item_type=ts.converter.item_type
    ).values_list("folder_id", flat=True)
    for other in folder_ids:
        missing = [m.crm_object_id for m in mappings if m.crm_object_id not in moved]
        if not missing:
            break
        found = find_stamped(open_folder(ts.account, other), missing)
        moved.update({record_id: (item_id, other) for record_id, (item_id, _) in found.items()})
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


def apply_page(
    ts: TypeSync,
    changes: list[tuple[str, Any]],
    folder_id: str,
    seen: set[str] | None,
    heartbeat: Callable[[], None] | None = None,
) -> list[tuple[Any, str, int]]:
    """Write one page of Exchange changes into the CRM (inside the caller's transaction).

    `heartbeat` renews the mailbox's claim during a long write (after the request for the
    series' exceptions, before the writes); inside the transaction the renewal also holds the
    mailbox row, so another worker cannot claim it before the page is committed."""
    converter = ts.converter
    now = timezone.now()
    upserts = [
        item
        for change, item in changes
        if change in (CREATE, UPDATE)
        and getattr(item, "type", None) not in ("Occurrence", "Exception")
    ]
    deleted_ids = [item.id for change, item in changes if change == DELETE]
    if seen is not None:
        seen.update(item.id for item in upserts)
    ids = [item.id for item in upserts] + deleted_ids
    mappings = {m.exchange_item_id: m for m in ts.mappings().filter(exchange_item_id__in=ids)}
    deleted_mappings = [mappings[i] for i in deleted_ids if i in mappings]
    # Items that moved (new ids) and carry their record's id: back to their mapping.
    stamped = {
        item.id: record_id
        for item in upserts
        if item.id not in mappings and (record_id := record_id_of(item)) is not None
    }
    if stamped:
        found = ts.mappings().filter(crm_object_id__in=set(stamped.values()))
        relinked = {m.crm_object_id: m for m in found}
        for item_id, record_id in stamped.items():
            m = relinked.get(record_id)
            if m is not None and m.exchange_item_id not in stamped:
                m.exchange_item_id = item_id
                m.is_deleted_in_exchange = False
                mappings[item_id] = m
    # Exceptions' own fields, for the series that are new or changed (one GetItem).
    exceptions = modified_occurrences(
        open_folder(ts.account, folder_id),
        [
            item
            for item in upserts
            if getattr(item, "modified_occurrences", None)
            and (item.id not in mappings or mappings[item.id].change_key != item.changekey)
        ],
    )
    if heartbeat is not None:
        heartbeat()
    canonicals = {item.id: ts.item_canonical(item, exceptions) for item in upserts}
    fingerprints = {item_id: fingerprint(c) for item_id, c in canonicals.items()}
    records = load_records(ts, [m.crm_object_id for m in mappings.values()])
    matches = match_unmapped(ts, [i for i in upserts if i.id not in mappings], canonicals)
    unmapped_stamps = {i: r for i, r in stamped.items() if i not in mappings}
    if unmapped_stamps:
        # A record whose mapping is gone (a lost state, a full resync) is linked by its id.
        mapped = ts.mappings().filter(crm_object_id=OuterRef("pk"))
        free = ts.records().filter(~Exists(mapped), pk__in=set(unmapped_stamps.values()))
        by_pk = {r.pk: r for r in free}
        taken = {r.pk for r in matches.values()}
        for item_id, record_id in unmapped_stamps.items():
            if record_id in by_pk and record_id not in taken:
                matches[item_id] = by_pk[record_id]
                taken.add(record_id)

    new_records: list[tuple[Any, Any, Canonical]] = []
    changed: dict[int, tuple[Any, Canonical]] = {}
    new_mappings: list[ExchangeSyncIdMapping] = []
    touched_mappings: dict[int, ExchangeSyncIdMapping] = {}

    def take_exchange(mapping: ExchangeSyncIdMapping, record: Any, canonical: Canonical) -> None:
        if converter.record_canonical(record) != canonical:
            converter.apply(record, canonical, ts.mailbox)
            changed[record.pk] = (record, canonical)
        mapping.to_crm_change_type = ChangeType.UPDATE
        mapping.from_crm_change_type = ChangeType.NONE

    for item in upserts:
        canonical = canonicals[item.id]
        exchange_fp = fingerprints[item.id]
        mapping = mappings.get(item.id)
        if mapping is None:
            record = matches.get(item.id)
            if record is None:
                if not ts.options.exchange_to_crm or not converter.imports(canonical, ts.options):
                    continue
                record = converter.model(**ts.owner_fields())
                converter.apply(record, canonical, ts.mailbox)  # type: ignore[arg-type]
                converter.adopt_ical_uid(record, item)  # type: ignore[arg-type]
                new_records.append((record, item, canonical))
                continue
            # An existing record found by iCalUId or identity: link it, then reconcile.
            crm_canonical = converter.record_canonical(record)
            mapping = _new_mapping(ts, record, item, folder_id, canonical, exchange_fp)
            mapping.crm_fingerprint = fingerprint(crm_canonical)
            new_mappings.append(mapping)
            if crm_canonical != canonical:
                _reconcile(ts, mapping, record, item, canonical, crm_canonical, take_exchange)
            continue
        mapping.exchange_folder_id = folder_id
        record = records.get(mapping.crm_object_id)
        touched_mappings[mapping.pk] = mapping
        if item.changekey == mapping.change_key or exchange_fp == mapping.exchange_fingerprint:
            # The version we last saw or wrote ourselves: nothing changed in Exchange.
            mapping.change_key = item.changekey
            mapping.exchange_fingerprint = exchange_fp
            continue
        mapping.change_key = item.changekey
        mapping.exchange_fingerprint = exchange_fp
        mapping.exchange_modified_at = parse_utc(utc_iso(item.last_modified_time))
        mapping.item_subject = _subject(canonical)
        mapping.is_deleted_in_exchange = False
        if record is None:
            continue  # deleted in the CRM: the push deletes or unlinks it
        if not ts.options.exchange_to_crm:
            continue
        crm_canonical = converter.record_canonical(record)
        crm_changed = fingerprint(crm_canonical) != mapping.crm_fingerprint
        if mapping.user_decision == Decision.PENDING:
            mapping.exchange_snapshot = canonical
            continue
        if not crm_changed or crm_canonical == canonical:
            take_exchange(mapping, record, canonical)
        else:
            _reconcile(ts, mapping, record, item, canonical, crm_canonical, take_exchange)

    if converter.links_accounts:
        # Contacts follow their company to an account.
        link_accounts(
            [r for r, _, _ in new_records]
            + [r for r, _ in changed.values() if r.account_id is None]
        )

    if new_records:
        insert_new([r for r, _, _ in new_records])
        for record, item, canonical in new_records:
            new_mappings.append(
                _new_mapping(ts, record, item, folder_id, canonical, fingerprints[item.id])
            )
    if changed:
        for record, _ in changed.values():
            record.modified_at = now
        converter.model._default_manager.bulk_update(
            [r for r, _ in changed.values()],
            [*converter.record_fields, "modified_at", "change_origin", "change_origin_mailbox"],
        )
    written = {r.pk: (r, c) for r, _, c in new_records} | changed
    created = {r.pk for r, _, _ in new_records}
    parties = replace_parties(ts, {pk: c for pk, (_, c) in written.items()}, created=created)
    occurrences = replace_occurrences(ts, written, created=created)

    # The CRM fingerprint is taken from the records as written (after truncation and the
    # parties' resolution), so a lossy field never echoes back to Exchange.
    for mapping in [*new_mappings, *touched_mappings.values()]:
        entry = written.get(mapping.crm_object_id)
        if entry is not None:
            record = entry[0]
            stored = converter.record_canonical(
                record,
                parties=parties.get(record.pk, []),
                exceptions=occurrences.get(record.pk, []),
            )
            mapping.crm_fingerprint = fingerprint(stored)
            mapping.crm_modified_at = record.modified_at
        mapping.last_synced_at = now
    stamps = stamps_to_write(upserts, [*new_mappings, *touched_mappings.values()])
    insert_new(new_mappings)
    if touched_mappings:
        ExchangeSyncIdMapping.objects.bulk_update(
            list(touched_mappings.values()),
            [
                "exchange_item_id",
                "change_key",
                "exchange_fingerprint",
                "crm_fingerprint",
                "exchange_folder_id",
                "exchange_modified_at",
                "crm_modified_at",
                "item_subject",
                "is_deleted_in_exchange",
                "to_crm_change_type",
                "from_crm_change_type",
                "user_decision",
                "crm_snapshot",
                "exchange_snapshot",
                "last_synced_at",
            ],
        )
    # A mapping re-linked above to the item's new id is not deleted with its old id.
    exchange_deleted(ts, [m for m in deleted_mappings if m.exchange_item_id in deleted_ids])
    ts.processed += len(new_records) + len(changed)
    return stamps


def stamps_to_write(
    items: list[Any], mappings: list[ExchangeSyncIdMapping]
) -> list[tuple[Any, str, int]]:
    """The items of these mappings that do not carry their record id yet (new links, items
    made before crmsync stamped), as (item, item id, record id).

    The caller writes them once the page's transaction has committed: a mark must only ever
    name a record that exists. Written inside it, a worker killed before the commit left
    marks naming rolled-back ids, which SQLite hands out again to other records, and the
    next sync re-linked items to the wrong records."""
    by_id = {item.id: item for item in items}
    todo = [
        (by_id[m.exchange_item_id], m.exchange_item_id, m.crm_object_id)
        for m in mappings
        if m.exchange_item_id in by_id
        and record_id_of(by_id[m.exchange_item_id]) != m.crm_object_id
    ]
    return todo


def write_stamps(ts: TypeSync, todo: list[tuple[Any, str, int]]) -> None:
    """Mark the items, keeping the change key each write gives on its mapping."""
    if not todo:
        return
    results = stamp_existing(ts.account, [(item, record_id) for item, _, record_id in todo])
    with transaction.atomic():
        for (_, item_id, record_id), result in zip(todo, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning(
                    "mailbox %s: could not mark item of record %s: %s",
                    ts.mailbox.pk,
                    record_id,
                    result,
                )
                continue
            if result[1]:
                ts.mappings().filter(exchange_item_id=item_id).update(change_key=result[1])


def _reconcile(
    ts: TypeSync,
    mapping: ExchangeSyncIdMapping,
    record: Any,
    item: Any,
    canonical: Canonical,
    crm_canonical: Canonical,
    take_exchange: Any,
) -> None:
    resolution = resolve_conflict(
        ts.options.conflict_strategy,
        crm_modified_at=record.modified_at,
        exchange_modified_at=parse_utc(utc_iso(item.last_modified_time)),
    )
    if resolution is Resolution.EXCHANGE:
        take_exchange(mapping, record, canonical)
    elif resolution is Resolution.CRM:
        # The push of this cycle overwrites Exchange with the CRM version.
        mapping.from_crm_change_type = ChangeType.UPDATE
    else:
        mapping.user_decision = Decision.PENDING
        mapping.crm_snapshot = crm_canonical
        mapping.exchange_snapshot = canonical


def _subject(canonical: Canonical) -> str:
    subject = canonical.get("subject") or " ".join(
        p for p in (canonical.get("first_name"), canonical.get("last_name")) if p
    )
    return str(subject)[:500]


def _new_mapping(
    ts: TypeSync, record: Any, item: Any, folder_id: str, canonical: Canonical, exchange_fp: str
) -> ExchangeSyncIdMapping:
    return ExchangeSyncIdMapping(
        mailbox=ts.mailbox,
        object_type=ts.converter.item_type,
        crm_content_type=ts.content_type,
        crm_object_id=record.pk,
        exchange_item_id=item.id,
        change_key=item.changekey or "",
        ical_uid=(getattr(item, "uid", None) or "")[:512],
        exchange_folder_id=folder_id,
        exchange_fingerprint=exchange_fp,
        exchange_modified_at=parse_utc(utc_iso(item.last_modified_time)),
        item_subject=_subject(canonical),
        to_crm_change_type=ChangeType.CREATE,
    )


def match_unmapped(
    ts: TypeSync, items: list[Any], canonicals: dict[str, Canonical]
) -> dict[str, Any]:
    """Existing unmapped CRM records for unmapped Exchange items: iCalUId, then identity."""
    if not items:
        return {}
    converter = ts.converter
    mapped = ts.mappings().filter(crm_object_id=OuterRef("pk"))
    candidates = ts.records().filter(~Exists(mapped))
    candidates = candidates.filter(converter.candidates_q(items, canonicals))
    free = list(candidates[:5000])
    if not free:
        return {}
    by_uid: dict[str, Any] = {}
    by_identity: dict[str, list[Any]] = {}
    for record in free:
        uid = getattr(record, "ical_uid", "")
        if uid:
            by_uid.setdefault(uid, record)
        key = converter.identity(converter.record_canonical(record))
        by_identity.setdefault(key, []).append(record)
    result: dict[str, Any] = {}
    taken: set[int] = set()
    for item in items:
        record = by_uid.get(getattr(item, "uid", None) or "")
        if record is None or record.pk in taken:
            pool = by_identity.get(converter.identity(canonicals[item.id]), [])
            record = next((r for r in pool if r.pk not in taken), None)
        if record is not None:
            result[item.id] = record
            taken.add(record.pk)
    return result
