"""CRM-side work shared by pull and push: loading records in bulk, owners, parties,
account links, recurring occurrences. Every function works on a page at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from activities.models import Account, ActivityParty, Appointment, ChangeOrigin, Contact
from mailboxes.connectors.ews.converters import Canonical, Converter
from mailboxes.connectors.ews.converters.common import parse_utc
from mailboxes.mail.parties import UNRESOLVED, PartyResolver
from mailboxes.models import ExchangeSyncIdMapping, ItemTypeSyncOptions, Mailbox
from mailboxes.sync.inserts import insert_new


@dataclass
class TypeSync:
    """One item type of one mailbox during one cycle."""

    mailbox: Mailbox
    options: ItemTypeSyncOptions
    converter: Converter
    account: Any
    content_type: ContentType
    full: bool = False
    processed: int = 0
    failed: int = 0
    seen_exchange_ids: set[str] = field(default_factory=set)

    @property
    def model(self) -> type[Model]:
        return self.converter.model

    @property
    def stamp(self) -> list[str]:
        return [c for c in (self.options.categories or []) if c]

    def owner_filter(self) -> Q:
        if self.mailbox.user_id is not None:
            return Q(owner_user_id=self.mailbox.user_id)
        return Q(owner_queue_id=self.mailbox.queue_id)

    def owner_fields(self) -> dict[str, Any]:
        if self.mailbox.user_id is not None:
            return {"owner_user_id": self.mailbox.user_id}
        return {"owner_queue_id": self.mailbox.queue_id}

    def records(self) -> QuerySet[Any]:
        qs = self.model._default_manager.filter(self.owner_filter())
        if self.converter.has_series:
            qs = qs.filter(series_master__isnull=True).prefetch_related("parties", "exceptions")
        return qs

    def mappings(self) -> QuerySet[ExchangeSyncIdMapping]:
        return ExchangeSyncIdMapping.objects.filter(
            mailbox=self.mailbox, crm_content_type=self.content_type
        )

    def item_canonical(self, item: Any, occurrences: dict[str, Any] | None = None) -> Canonical:
        canonical = self.converter.item_canonical(item, occurrences)
        # Categories we stamp on what we write are ours, not the user's.
        stamp = set(self.stamp)
        if stamp:
            canonical["categories"] = [c for c in canonical["categories"] if c not in stamp]
        return canonical


def load_records(ts: TypeSync, ids: Iterable[int]) -> dict[int, Any]:
    ids = list(ids)
    if not ids:
        return {}
    return {r.pk: r for r in ts.records().filter(pk__in=ids)}


def mark_synced(records: Sequence[Any], *, now: Any = None) -> None:
    now = now or timezone.now()
    for record in records:
        record.modified_at = now


# --- Parties -------------------------------------------------------------------------------


def resolve_parties(
    owner: dict[str, Any], wanted: dict[int, list[dict[str, str]]]
) -> list[ActivityParty]:
    """ActivityParty rows for {appointment id: parties}, resolved as email parties are
    (`mailboxes.mail.parties`): one query for the whole page."""
    resolver = PartyResolver(owner_user_id=owner.get("owner_user_id"))
    found = resolver.resolve_many(p["address"] for ps in wanted.values() for p in ps)
    result = []
    for appointment_id, parties in wanted.items():
        for party in parties:
            address = party["address"]
            resolution = found.get(address.lower(), UNRESOLVED)
            result.append(
                ActivityParty(
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
    ts: TypeSync, canonicals: dict[int, Canonical], *, created: Collection[int] = ()
) -> dict[int, list[ActivityParty]]:
    """Each appointment's parties as its canonical form lists them: {appointment id: rows}.

    `created` are appointments inserted just now, which have no parties to delete yet.
    """
    if not ts.converter.has_parties or not canonicals:
        return {}
    existing = [pk for pk in canonicals if pk not in created]
    if existing:
        ActivityParty.objects.filter(appointment_id__in=existing).delete()
    wanted = {pk: ts.converter.parties(c) for pk, c in canonicals.items()}
    rows = resolve_parties(ts.owner_fields(), wanted)
    insert_new(rows)
    result: dict[int, list[ActivityParty]] = defaultdict(list)
    for row in rows:
        assert row.appointment_id is not None
        result[row.appointment_id].append(row)
    return result


def replace_occurrences(
    ts: TypeSync, masters: dict[int, tuple[Any, Canonical]], *, created: Collection[int] = ()
) -> dict[int, list[Appointment]]:
    """Child appointments for the modified and deleted occurrences of each series:
    {series master id: children}. `created` masters were inserted just now (no children)."""
    if not ts.converter.has_series or not masters:
        return {}
    existing = [pk for pk in masters if pk not in created]
    if existing:
        Appointment.objects.filter(series_master_id__in=existing).delete()
    children: list[Appointment] = []
    for pk, (master, canonical) in masters.items():
        if not canonical.get("recurrence"):
            continue
        for occurrence in canonical["modified_occurrences"]:
            start = parse_utc(occurrence["start"])
            end = parse_utc(occurrence["end"])
            if start is None:
                continue
            children.append(
                Appointment(
                    **ts.owner_fields(),
                    subject=(occurrence.get("subject") or master.subject)[:500],
                    location=occurrence.get("location", master.location)[:500],
                    description=occurrence.get("description", master.description),
                    busy_status=occurrence.get("busy_status", master.busy_status),
                    start=start,
                    end=max(end or start, start),
                    time_zone=master.time_zone,
                    is_all_day=master.is_all_day,
                    series_master_id=pk,
                    original_start=parse_utc(occurrence["original_start"]),
                    change_origin=ChangeOrigin.SYNC,
                    change_origin_mailbox=ts.mailbox,
                )
            )
        for original in canonical["deleted_occurrences"]:
            when = parse_utc(original)
            if when is None:
                continue
            children.append(
                Appointment(
                    **ts.owner_fields(),
                    subject=master.subject,
                    start=when,
                    end=when,
                    time_zone=master.time_zone,
                    series_master_id=pk,
                    original_start=when,
                    is_cancelled=True,
                    change_origin=ChangeOrigin.SYNC,
                    change_origin_mailbox=ts.mailbox,
                )
            )
    insert_new(children)
    result: dict[int, list[Appointment]] = defaultdict(list)
    for child in children:
        assert child.series_master_id is not None
        result[child.series_master_id].append(child)
    return result


# --- Contacts → accounts -------------------------------------------------------------------


def link_accounts(contacts: Sequence[Contact]) -> None:
    """Link each contact to the one account named like its company; none if several match."""
    names = {c.company_name.strip().lower() for c in contacts if c.company_name.strip()}
    if not names:
        return
    matches: dict[str, list[int]] = defaultdict(list)
    for pk, name in (
        Account.objects.annotate(n=Lower("name")).filter(n__in=names).values_list("pk", "n")
    ):
        matches[name].append(pk)
    for contact in contacts:
        found = matches.get(contact.company_name.strip().lower(), [])
        contact.account_id = found[0] if len(found) == 1 else None
