"""One page of server changes into the CRM, in three steps: load what the page concerns
(mappings, records, candidate matches: queries only), decide (no I/O: what to create,
update, link, leave, or keep as a conflict), write (inserts and updates in bulk).

An item without a mapping is matched before anything is created: by the record id it
carries (a moved item, a lost cursor), by iCalUId (appointments), then by its identity
(subject and times, names and email, ...) among the owner's records that have no mapping
yet. That keeps a full resync, a lost cursor, or a push that died between creating the item
and saving its mapping free of duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic

from django.db import connections, router
from django.db.models import Exists, Field, OuterRef
from django.utils import timezone

from crmsync.inserts import insert_new, new_row
from mailboxes.connectors.base import Canonical, ItemRef, RemoteItem
from mailboxes.itemtypes.common import R, fingerprint
from mailboxes.models import ChangeType, ExchangeSyncIdMapping
from mailboxes.sync.conflicts import Resolution, resolve_conflict
from mailboxes.sync.records import (
    TypeRecords,
    TypeSync,
    load_records,
    replace_occurrences,
    replace_parties,
)

Decision = ExchangeSyncIdMapping.UserDecision
Stamp = tuple[ItemRef, int]

MAPPING_FIELDS = [
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
    "invited",
    "withheld",
    "stamp_pending",
]


@dataclass
class Loaded(Generic[R]):
    """What a page's decisions need from the database."""

    items: list[RemoteItem]
    canonicals: dict[str, Canonical]  # the items' forms without the categories we stamp
    mappings: dict[str, ExchangeSyncIdMapping]  # by item id, moved items re-linked
    records: dict[int, R]  # the mapped records
    matches: dict[str, R]  # unmapped items → existing unmapped records


@dataclass
class Plan(Generic[R]):
    """What a page changes: records to insert or update, mappings to insert or update."""

    new_records: list[tuple[R, RemoteItem]] = field(default_factory=list)
    changed: dict[int, tuple[R, Canonical]] = field(default_factory=dict)
    new_mappings: list[ExchangeSyncIdMapping] = field(default_factory=list)
    touched: dict[int, ExchangeSyncIdMapping] = field(default_factory=dict)
    # Mappings of items seen unchanged (our own writes read back): `UNCHANGED_FIELDS` only.
    unchanged: dict[int, ExchangeSyncIdMapping] = field(default_factory=dict)

    def held(self) -> dict[str, str]:
        """{item id: change key} of every mapping of the page's items, as written."""
        mappings = [*self.new_mappings, *self.touched.values(), *self.unchanged.values()]
        return {m.exchange_item_id: m.change_key for m in mappings}


def load(ts: TypeSync[R], items: Sequence[RemoteItem], deleted: Sequence[str]) -> Loaded[R]:
    """The mappings of the page's items (an unmapped item that carries the record id of a
    mapping re-links to it: it moved), their records, and matches for the unmapped ones."""
    ids = [item.id for item in items] + list(deleted)
    # By mailbox and item id, the unique index: given the record type too, SQLite took the
    # (mailbox, type, record) index instead and read every mapping of the type each page.
    found = ExchangeSyncIdMapping.objects.filter(mailbox=ts.mailbox, exchange_item_id__in=ids)
    mappings = {m.exchange_item_id: m for m in found if m.crm_content_type_id == ts.content_type.pk}
    mappings |= _locked_conflicts(ts, mappings)
    stamped = {
        item.id: item.record_id
        for item in items
        if item.id not in mappings and item.record_id is not None
    }
    if stamped:
        found = ts.mappings().filter(crm_object_id__in=set(stamped.values()))
        relinked = {m.crm_object_id: m for m in found}
        # A record's item that is on this page, changed, is still there: an unmapped item
        # with its stamp is a copy of it (the one-off task Exchange makes when an occurrence
        # of a recurring task is completed), not the item moved; it becomes a record of its
        # own (and is stamped with that record's id).
        alive = {item.id for item in items}
        for item_id, record_id in stamped.items():
            m = relinked.get(record_id)
            if m is not None and m.exchange_item_id not in stamped.keys() | alive:
                m.exchange_item_id = item_id
                m.is_deleted_in_exchange = False
                mappings[item_id] = m
    canonicals = {item.id: ts.own_view(item.canonical) for item in items}
    # An item unchanged since we saw or wrote it (our marks read back) needs no record.
    unchanged = {
        item.id
        for item in items
        if (m := mappings.get(item.id)) is not None
        and (
            item.change_key == m.change_key
            or fingerprint(canonicals[item.id]) == m.exchange_fingerprint
        )
    }
    records = load_records(ts, [m.crm_object_id for i, m in mappings.items() if i not in unchanged])
    unmapped = [i for i in items if i.id not in mappings]
    matches = match_unmapped(ts, unmapped, canonicals)
    unmapped_stamps = {i: r for i, r in stamped.items() if i not in mappings}
    if unmapped_stamps:
        # A record whose mapping is gone (a lost cursor, a full resync) is linked by its id.
        mapped = ts.mappings().filter(crm_object_id=OuterRef("pk"))
        free = ts.records().filter(~Exists(mapped), pk__in=set(unmapped_stamps.values()))
        by_pk = {r.pk: r for r in free}
        taken = {r.pk for r in matches.values()}
        for item_id, record_id in unmapped_stamps.items():
            if record_id in by_pk and record_id not in taken:
                matches[item_id] = by_pk[record_id]
                taken.add(record_id)
    return Loaded(list(items), canonicals, mappings, records, matches)


def _locked_conflicts(
    ts: TypeSync[R], mappings: dict[str, ExchangeSyncIdMapping]
) -> dict[str, ExchangeSyncIdMapping]:
    """The page's conflicts waiting for a decision, read again under a row lock held until
    the page commits.

    A person deciding meanwhile (`conflicts.apply_decision` locks the same row) waits for the
    commit and then decides on what the page wrote; without the lock, the page's write of the
    mapping as loaded would undo a decision taken between the load and the write. A decision
    committed before the lock is read here, so the page sees it.
    """
    pending = [m.pk for m in mappings.values() if m.user_decision == Decision.PENDING]
    if not pending:
        return {}
    fresh = ts.mappings().select_for_update(of=("self",)).filter(pk__in=pending)
    return {m.exchange_item_id: m for m in fresh}


def match_unmapped(
    ts: TypeSync[R], items: list[RemoteItem], canonicals: dict[str, Canonical]
) -> dict[str, R]:
    """Existing unmapped CRM records for unmapped server items: iCalUId, then identity."""
    if not items:
        return {}
    kind = ts.kind
    mapped = ts.mappings().filter(crm_object_id=OuterRef("pk"))
    candidates = ts.records().filter(~Exists(mapped))
    own = [
        i if i.canonical is canonicals[i.id] else replace(i, canonical=canonicals[i.id])
        for i in items
    ]
    free = list(candidates.filter(kind.candidates_q(own))[:5000])
    if not free:
        return {}
    by_uid: dict[str, R] = {}
    by_identity: dict[str, list[R]] = {}
    for candidate in free:
        uid = kind.ical_uid_of(candidate)
        if uid:
            by_uid.setdefault(uid, candidate)
        key = kind.identity(kind.record_canonical(candidate))
        by_identity.setdefault(key, []).append(candidate)
    result: dict[str, R] = {}
    taken: set[int] = set()
    for item in items:
        record: R | None = by_uid.get(item.ical_uid)
        if record is None or record.pk in taken:
            pool = by_identity.get(kind.identity(canonicals[item.id]), [])
            record = next((r for r in pool if r.pk not in taken), None)
        if record is not None:
            result[item.id] = record
            taken.add(record.pk)
    return result


class _Decider(Generic[R]):
    """The decisions of one page, on the loaded rows (no I/O)."""

    def __init__(self, ts: TypeRecords[R], loaded: Loaded[R], folder_id: str) -> None:
        self.ts, self.kind, self.loaded, self.folder_id = ts, ts.kind, loaded, folder_id
        self.plan: Plan[R] = Plan()

    def run(self) -> Plan[R]:
        for item in self.loaded.items:
            mapping = self.loaded.mappings.get(item.id)
            if mapping is None:
                self.unmapped(item)
            else:
                self.mapped(item, mapping)
        return self.plan

    def take_server(self, mapping: ExchangeSyncIdMapping, record: R, canonical: Canonical) -> None:
        if self.kind.record_canonical(record) != canonical:
            self.kind.apply(record, canonical, self.ts.mailbox)
            self.plan.changed[record.pk] = (record, canonical)
        mapping.to_crm_change_type = ChangeType.UPDATE
        mapping.from_crm_change_type = ChangeType.NONE

    def unmapped(self, item: RemoteItem) -> None:
        canonical = self.loaded.canonicals[item.id]
        record = self.loaded.matches.get(item.id)
        if record is None:
            options = self.ts.options
            if not options.exchange_to_crm or not self.kind.imports(canonical, options):
                return
            record = new_row(self.kind.model, **self.ts.owner_fields())
            self.kind.apply(record, canonical, self.ts.mailbox)
            self.kind.adopt_ical_uid(record, item.ical_uid)
            self.plan.new_records.append((record, item))
            return
        # An existing record found by record id, iCalUId or identity: link, then reconcile.
        crm_canonical = self.kind.record_canonical(record)
        mapping = new_mapping(self.ts, record.pk, item, self.folder_id, canonical)
        mapping.crm_fingerprint = fingerprint(crm_canonical)
        self.plan.new_mappings.append(mapping)
        if crm_canonical != canonical:
            self.reconcile(mapping, record, item, canonical, crm_canonical)

    def mapped(self, item: RemoteItem, mapping: ExchangeSyncIdMapping) -> None:
        canonical = self.loaded.canonicals[item.id]
        server_fp = fingerprint(canonical)
        mapping.exchange_folder_id = self.folder_id
        record = self.loaded.records.get(mapping.crm_object_id)
        if item.change_key == mapping.change_key or server_fp == mapping.exchange_fingerprint:
            # The version we last saw or wrote ourselves: nothing changed on the server.
            mapping.change_key = item.change_key
            self.plan.unchanged[mapping.pk] = mapping
            return
        self.plan.touched[mapping.pk] = mapping
        mapping.change_key = item.change_key
        mapping.exchange_fingerprint = server_fp
        mapping.exchange_modified_at = item.modified_at
        mapping.item_subject = self.kind.subject(canonical)
        mapping.is_deleted_in_exchange = False
        heard_of(self.ts, mapping, canonical, item)
        if record is None:
            return  # deleted in the CRM: the push deletes or unlinks it
        if not self.ts.options.exchange_to_crm:
            return
        crm_canonical = self.kind.record_canonical(record)
        crm_changed = fingerprint(crm_canonical) != mapping.crm_fingerprint
        if mapping.user_decision == Decision.PENDING:
            mapping.exchange_snapshot = canonical
            return
        if not crm_changed or crm_canonical == canonical:
            self.take_server(mapping, record, canonical)
        else:
            self.reconcile(mapping, record, item, canonical, crm_canonical)

    def reconcile(
        self,
        mapping: ExchangeSyncIdMapping,
        record: R,
        item: RemoteItem,
        canonical: Canonical,
        crm_canonical: Canonical,
    ) -> None:
        resolution = resolve_conflict(
            self.ts.options.conflict_strategy,
            crm_modified_at=record.modified_at,
            exchange_modified_at=item.modified_at,
        )
        if resolution is Resolution.EXCHANGE:
            self.take_server(mapping, record, canonical)
        elif resolution is Resolution.CRM:
            # The push of this cycle overwrites the server with the CRM version.
            mapping.from_crm_change_type = ChangeType.UPDATE
        else:
            mapping.user_decision = Decision.PENDING
            mapping.crm_snapshot = crm_canonical
            mapping.exchange_snapshot = canonical


def decide(ts: TypeRecords[R], loaded: Loaded[R], folder_id: str) -> Plan[R]:
    """What the page changes in the CRM, decided on the loaded rows without any I/O."""
    return _Decider(ts, loaded, folder_id).run()


def write(ts: TypeSync[R], loaded: Loaded[R], plan: Plan[R], folder_id: str) -> list[Stamp]:
    """Write the plan (inside the caller's transaction); the items to mark with their
    record ids once it commits, their mappings marked `stamp_pending` (none where the
    connector's ids survive moves: the flag alone, written after the pull)."""
    now = timezone.now()
    kind = ts.kind
    kind.link_related([r for r, _ in plan.new_records] + [r for r, _ in plan.changed.values()])
    if plan.new_records:
        insert_new([r for r, _ in plan.new_records])
        for record, item in plan.new_records:
            plan.new_mappings.append(
                new_mapping(ts, record.pk, item, folder_id, loaded.canonicals[item.id])
            )
    if plan.changed:
        for record, _ in plan.changed.values():
            record.modified_at = now
        kind.model._default_manager.bulk_update(
            [r for r, _ in plan.changed.values()],
            [*kind.record_fields, "modified_at", "change_origin", "change_origin_mailbox"],
        )
    written = {r.pk: (r, loaded.canonicals[i.id]) for r, i in plan.new_records} | plan.changed
    created = {r.pk for r, _ in plan.new_records}
    parties = replace_parties(ts, {pk: c for pk, (_, c) in written.items()}, created=created)
    occurrences = replace_occurrences(ts, written, created=created)
    mappings = [*plan.new_mappings, *plan.touched.values(), *plan.unchanged.values()]
    # The CRM fingerprint is taken from the records as written (after truncation and the
    # parties' resolution), so a lossy field never echoes back to the server.
    for mapping in mappings:
        entry = written.get(mapping.crm_object_id)
        if entry is not None:
            record = entry[0]
            stored = kind.record_canonical(
                record,
                parties=parties.get(record.pk, []),
                exceptions=occurrences.get(record.pk, []),
            )
            mapping.crm_fingerprint = fingerprint(stored)
            mapping.crm_modified_at = record.modified_at
        mapping.last_synced_at = now
    stamps = stamps_to_write(loaded.items, mappings)
    # A mark to write is flagged with the page, so one lost (a crash before it is written,
    # a failed request) is written by a later cycle (`stamps.py`); the writer clears the
    # flag. An item seen carrying its record id has its stamp.
    pending = {ref.id for ref, _ in stamps}
    for mapping in mappings:
        if mapping.exchange_item_id in pending:
            mapping.stamp_pending = True
        elif mapping.stamp_pending and mapping.exchange_item_id in loaded.canonicals:
            mapping.stamp_pending = False
    if ts.connector.ids_survive_moves:
        # Written after the pull, a budget a cycle (`stamps.py`): the mapping finds the item
        # by its id meanwhile.
        stamps = []
    insert_new(plan.new_mappings)
    if plan.touched:
        ExchangeSyncIdMapping.objects.bulk_update(list(plan.touched.values()), MAPPING_FIELDS)
    rows = list(plan.unchanged.values())
    for start in range(0, len(rows), ROWS_PER_UPDATE):
        update_unchanged(rows[start : start + ROWS_PER_UPDATE])
    ts.processed += len(plan.new_records) + len(plan.changed)
    return stamps


# What an unchanged item's mapping changes: its change key (the same fields otherwise: the
# item may be one we marked, its folder one it moved to) and, re-linked, its id.
UNCHANGED_FIELDS = [
    "exchange_item_id",
    "change_key",
    "exchange_folder_id",
    "is_deleted_in_exchange",
    "stamp_pending",
    "last_synced_at",
]
ROWS_PER_UPDATE = 100


def update_unchanged(rows: list[ExchangeSyncIdMapping]) -> None:
    """One UPDATE of `UNCHANGED_FIELDS` for these mappings, a `CASE` per column.

    In SQL: `bulk_update` builds a `Case` of a `When` per row and field through the ORM,
    which for the mappings of a read-back page of 200 marked items cost about 1.5 s on
    SQLite, several times the page's other work."""
    meta = ExchangeSyncIdMapping._meta
    connection = connections[router.db_for_write(ExchangeSyncIdMapping)]
    qn = connection.ops.quote_name
    assert meta.pk is not None and meta.pk.column
    pk = str(qn(meta.pk.column))
    sets: list[str] = []
    params: list[Any] = []
    for name in UNCHANGED_FIELDS:
        column = meta.get_field(name)
        assert isinstance(column, Field) and column.column
        quoted = str(qn(column.column))
        sets.append(
            f"{quoted} = CASE {pk} " + "WHEN %s THEN %s " * len(rows) + f"ELSE {quoted} END"
        )
        for m in rows:
            params += [m.pk, column.get_db_prep_save(getattr(m, name), connection)]
    marks = ", ".join(["%s"] * len(rows))
    # Only quoted table and column names are interpolated; values are parameters.
    sql = f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} WHERE {pk} IN ({marks})"  # noqa: S608
    params += [m.pk for m in rows]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def stamps_to_write(items: list[RemoteItem], mappings: list[ExchangeSyncIdMapping]) -> list[Stamp]:
    """The items of these mappings that do not carry their record id yet (new links, items
    made before crmsync stamped), with the record id to write.

    The caller writes them once the page's transaction has committed: a mark must only ever
    name a record that exists. Written inside it, a worker killed before the commit left
    marks naming rolled-back ids, which SQLite hands out again to other records, and the
    next sync re-linked items to the wrong records."""
    by_id = {item.id: item for item in items}
    return [
        (by_id[m.exchange_item_id].ref, m.crm_object_id)
        for m in mappings
        if m.exchange_item_id in by_id and by_id[m.exchange_item_id].record_id != m.crm_object_id
    ]


def new_mapping(
    ts: TypeRecords[R], record_id: int, item: RemoteItem, folder_id: str, canonical: Canonical
) -> ExchangeSyncIdMapping:
    mapping = new_row(
        ExchangeSyncIdMapping,
        mailbox_id=ts.mailbox.pk,
        object_type=ts.kind.item_type,
        crm_content_type_id=ts.content_type.pk,
        crm_object_id=record_id,
        exchange_item_id=item.id,
        change_key=item.change_key,
        ical_uid=item.ical_uid[:512],
        exchange_folder_id=folder_id,
        exchange_fingerprint=fingerprint(canonical),
        exchange_modified_at=item.modified_at,
        item_subject=ts.kind.subject(canonical),
        to_crm_change_type=ChangeType.CREATE,
    )
    heard_of(ts, mapping, canonical, item)
    return mapping


def heard_of(
    ts: TypeRecords[R], mapping: ExchangeSyncIdMapping, canonical: Canonical, item: RemoteItem
) -> None:
    """Who holds a meeting read from the server, as far as the mapping does not know yet:
    one this mailbox sent from Outlook is held by its attendees, so the CRM's changes reach
    them; one saved unsent stays unsent (README, "Meeting invitations")."""
    attendees = ts.kind.invitees(canonical, ts.mailbox.email_address)
    if item.sent:
        mapping.invited = sorted(set(mapping.invited) | attendees)
        mapping.withheld = sorted(set(mapping.withheld) - attendees)
    else:
        mapping.withheld = sorted(set(mapping.withheld) | (attendees - set(mapping.invited)))


def apply_page(
    ts: TypeSync[R],
    items: Sequence[RemoteItem],
    deleted: Sequence[str],
    folder_id: str,
    heartbeat: Callable[[], None] | None = None,
) -> tuple[list[Stamp], list[ExchangeSyncIdMapping], dict[str, str]]:
    """Write one page of server changes into the CRM (inside the caller's transaction):
    the stamps to write after the commit, the mappings of the page's deleted items, and
    the change key each mapped item of the page is held at ({item id: change key}).

    `heartbeat` renews the mailbox's claim before the writes; inside the transaction the
    renewal also holds the mailbox row, so another worker cannot claim it before the page
    is committed."""
    loaded = load(ts, items, deleted)
    if heartbeat is not None:
        heartbeat()
    plan = decide(ts, loaded, folder_id)
    stamps = write(ts, loaded, plan, folder_id)
    # A mapping re-linked above to the item's new id is not deleted with its old id.
    gone = set(deleted)
    doomed = [
        m
        for i in deleted
        if (m := loaded.mappings.get(i)) is not None and m.exchange_item_id in gone
    ]
    return stamps, doomed, plan.held()


__all__ = ["Loaded", "Plan", "apply_page", "decide", "load", "write"]
