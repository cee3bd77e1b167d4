"""CRM-side work shared by pull and push: one item type's records and mappings
(`TypeRecords`, and `TypeSync` with its connector), loading records in bulk, parties,
recurring occurrences. Every function works on a page at a time; what differs between types
is asked of the type's policy (`mailboxes/itemtypes/`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from activities.models import ActivityParty
from crmsync.inserts import insert_new, new_row
from mailboxes.connectors.base import Canonical, ItemConnector
from mailboxes.itemtypes.common import R, TypePolicy, categories
from mailboxes.mail.parties import UNRESOLVED, PartyResolver
from mailboxes.models import ExchangeSyncIdMapping, ItemTypeSyncOptions, Mailbox


@dataclass
class TypeRecords(Generic[R]):
    """The CRM side of one item type of one mailbox: its records, mappings and policy."""

    mailbox: Mailbox
    options: ItemTypeSyncOptions
    kind: TypePolicy[R]
    content_type: ContentType

    @property
    def model(self) -> type[R]:
        return self.kind.model

    @cached_property
    def resolver(self) -> PartyResolver:
        """The parties' addresses resolved to CRM records, each looked up once while this
        serves (a cycle): an organizer or attendee of many appointments costs one query,
        not one a page."""
        owner = self.owner_fields().get("owner_user_id")
        return PartyResolver(owner_user_id=owner)

    @property
    def stamp(self) -> list[str]:
        """The categories this mailbox stamps on what it writes (`options.categories`)."""
        return [c for c in (self.options.categories or []) if c]

    def owner_filter(self) -> Q:
        if self.mailbox.user_id is not None:
            return Q(owner_user_id=self.mailbox.user_id)
        return Q(owner_queue_id=self.mailbox.queue_id)

    def owner_fields(self) -> dict[str, int | None]:
        if self.mailbox.user_id is not None:
            return {"owner_user_id": self.mailbox.user_id}
        return {"owner_queue_id": self.mailbox.queue_id}

    def records(self) -> QuerySet[R]:
        return self.kind.own_records(self.model._default_manager.filter(self.owner_filter()))

    def mappings(self) -> QuerySet[ExchangeSyncIdMapping]:
        return ExchangeSyncIdMapping.objects.filter(
            mailbox=self.mailbox, crm_content_type=self.content_type
        )

    def own_view(self, canonical: Canonical) -> Canonical:
        """A server item's canonical form without the categories this mailbox stamps: those
        are ours, not the user's."""
        stamp = set(self.stamp)
        if stamp:
            canonical = {**canonical}
            canonical["categories"] = [c for c in canonical["categories"] if c not in stamp]
        return canonical

    def for_server(self, canonical: Canonical) -> Canonical:
        """A record's canonical form as written to the server: the stamped categories added."""
        if not self.stamp:
            return canonical
        return {**canonical, "categories": categories([*canonical["categories"], *self.stamp])}


@dataclass
class TypeSync(TypeRecords[R]):
    """One item type of one mailbox during one cycle: its records and its server side."""

    connector: ItemConnector = field(kw_only=True)
    # The connector's protocol: its folders' cursors are kept under it (FolderSyncState).
    protocol: str = field(kw_only=True)
    processed: int = 0
    failed: int = 0


def load_records(ts: TypeRecords[R], ids: Iterable[int]) -> dict[int, R]:
    ids = list(ids)
    if not ids:
        return {}
    return {r.pk: r for r in ts.records().filter(pk__in=ids)}


# --- Parties -------------------------------------------------------------------------------


def resolve_parties(
    resolver: PartyResolver, wanted: dict[int, list[dict[str, str]]]
) -> list[ActivityParty]:
    """ActivityParty rows for {appointment id: parties}, resolved as email parties are
    (`mailboxes.mail.parties`): at most one query for the whole page."""
    found = resolver.resolve_many(p["address"] for ps in wanted.values() for p in ps)
    result = []
    for appointment_id, parties in wanted.items():
        for party in parties:
            address = party["address"]
            resolution = found.get(address.lower(), UNRESOLVED)
            result.append(
                new_row(
                    ActivityParty,
                    appointment_id=appointment_id,
                    role=party["role"],
                    address=address,
                    display_name=party["name"][:300],
                    user_id=resolution.user_id,
                    queue_id=resolution.queue_id,
                    contact_id=resolution.contact_id,
                    account_id=resolution.account_id,
                    response=party["response"],
                )
            )
    return result


def replace_parties(
    ts: TypeRecords[R], canonicals: dict[int, Canonical], *, created: Collection[int] = ()
) -> dict[int, list[ActivityParty]]:
    """Each appointment's parties as its canonical form lists them: {appointment id: rows}.

    `created` are appointments inserted just now, which have no parties to delete yet.
    """
    if not ts.kind.has_parties or not canonicals:
        return {}
    existing = [pk for pk in canonicals if pk not in created]
    if existing:
        ActivityParty.objects.filter(appointment_id__in=existing).delete()
    wanted = {pk: ts.kind.parties(c) for pk, c in canonicals.items()}
    rows = resolve_parties(ts.resolver, wanted)
    insert_new(rows)
    result: dict[int, list[ActivityParty]] = defaultdict(list)
    for row in rows:
        assert row.appointment_id is not None
        result[row.appointment_id].append(row)
    return result


def replace_occurrences(
    ts: TypeRecords[R],
    masters: Mapping[int, tuple[R, Canonical]],
    *,
    created: Collection[int] = (),
) -> dict[int, list[R]]:
    """Child records for the modified and deleted occurrences of each series:
    {series master id: children}. `created` masters were inserted just now (no children)."""
    if not ts.kind.has_series or not masters:
        return {}
    existing = [pk for pk in masters if pk not in created]
    if existing:
        ts.kind.delete_children(existing)
    owner = ts.owner_fields()
    children = {
        pk: ts.kind.children(master, canonical, owner=owner, mailbox=ts.mailbox)
        for pk, (master, canonical) in masters.items()
    }
    insert_new([child for rows in children.values() for child in rows])
    return {pk: rows for pk, rows in children.items() if rows}
