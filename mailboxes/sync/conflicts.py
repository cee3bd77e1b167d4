"""Both sides changed since the last sync: who wins, by the mailbox's strategy.

`manual` keeps both versions on the mapping (`crm_snapshot`, `exchange_snapshot`,
`user_decision = pending`) and touches neither side until a person decides. Every decision,
from the self-service page or the admin, goes through `decide_conflicts` (one row:
`apply_decision`), which applies it at once: the next sync carries it to the other side.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from activities.models import OwnedRecord
from mailboxes.connectors.base import Canonical
from mailboxes.connectors.timezones import canonical_tz
from mailboxes.itemtypes import TYPES, fingerprint
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, ItemTypeSyncOptions
from mailboxes.sync.records import TypeRecords, load_records, replace_occurrences, replace_parties

logger = logging.getLogger(__name__)

Strategy = ItemTypeSyncOptions.ConflictStrategy
Decision = ExchangeSyncIdMapping.UserDecision
DECISIONS = (Decision.KEEP_CRM, Decision.KEEP_EXCHANGE)


class AlreadyDecided(ValueError):
    """The conflict was settled meanwhile (by another person, in another tab)."""


class Resolution(enum.Enum):
    CRM = "crm"
    EXCHANGE = "exchange"
    ASK = "ask"


def resolve_conflict(
    strategy: str, *, crm_modified_at: datetime | None, exchange_modified_at: datetime | None
) -> Resolution:
    if strategy == Strategy.CRM_WINS:
        return Resolution.CRM
    if strategy == Strategy.EXCHANGE_WINS:
        return Resolution.EXCHANGE
    if strategy == Strategy.MANUAL:
        return Resolution.ASK
    # Most recent wins; a tie or an unknown time goes to Exchange, where the user edits.
    if crm_modified_at and exchange_modified_at and crm_modified_at > exchange_modified_at:
        return Resolution.CRM
    return Resolution.EXCHANGE


@dataclass(frozen=True)
class FieldComparison:
    """One field of a conflict's two versions, and whether they really differ."""

    field: str
    crm: object  # a value of a canonical form (JSON)
    exchange: object
    differs: bool


def _comparable(field: str, value: object, own_address: str) -> object:
    """The value as both sides mean it. Written differently, these say the same: nothing
    (`None`, "", an empty list); no time zone in the CRM, which is written to Exchange as
    UTC (and UTC's other names); no organizer in the CRM, which Exchange shows as the
    mailbox's own address, the one who wrote the item (names aside: the address is who)."""
    if field == "time_zone" and isinstance(value, str) and canonical_tz(value) in ("", "UTC"):
        return None
    if field == "organizer" and isinstance(value, dict):
        address = str(value.get("address") or "").strip().lower()
        return None if address in ("", own_address) else address
    if value is None or (isinstance(value, str | list | dict) and not value):
        return None
    return value


def compare_snapshots(
    crm_snapshot: object, exchange_snapshot: object, own_address: str = ""
) -> list[FieldComparison]:
    """One comparison per field of either version (a stored snapshot: a canonical form, or
    nothing), in the CRM version's order, then Exchange's; `own_address` is the mailbox's
    (an organizer left out is this one)."""
    crm: Canonical = crm_snapshot if isinstance(crm_snapshot, dict) else {}
    exchange: Canonical = exchange_snapshot if isinstance(exchange_snapshot, dict) else {}
    own = own_address.strip().lower()
    keys = list(crm) + [key for key in exchange if key not in crm]
    return [
        FieldComparison(
            key,
            crm.get(key),
            exchange.get(key),
            _comparable(key, crm.get(key), own) != _comparable(key, exchange.get(key), own),
        )
        for key in keys
    ]


def conflict_differences(mapping: ExchangeSyncIdMapping) -> list[FieldComparison]:
    """The fields whose CRM and Exchange versions really differ: what the person decides on."""
    rows = compare_snapshots(
        mapping.crm_snapshot, mapping.exchange_snapshot, mapping.mailbox.email_address
    )
    return [row for row in rows if row.differs]


def shown_value(value: object) -> str:
    """A version's value in a decision table: "—" for nothing, a person as "Name
    <address>", other lists and objects as JSON."""
    if value is None or (isinstance(value, str | list | dict) and not value):
        return "—"
    if isinstance(value, dict) and value.get("address"):
        name = str(value.get("name") or "")
        return f"{name} <{value['address']}>" if name else str(value["address"])
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def apply_decision(mapping: ExchangeSyncIdMapping, decision: str) -> None:
    """Settle a pending manual conflict: keep the CRM or the Exchange version.

    Keeping Exchange writes the Exchange snapshot into the CRM record now; keeping the CRM
    marks the record for the next push, which overwrites Exchange. Either way the mailbox
    is made due so the result reaches the other side promptly.
    """
    from mailboxes.sync import scheduling

    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    with transaction.atomic():
        # Locked and read again: two decisions of one conflict never both apply.
        mapping = (
            ExchangeSyncIdMapping.objects.select_for_update(of=("self",))
            .select_related("mailbox", "crm_content_type")
            .get(pk=mapping.pk)
        )
        if mapping.user_decision != Decision.PENDING:
            raise AlreadyDecided("this conflict was decided already")
        kind = TYPES[mapping.object_type]
        if decision == Decision.KEEP_EXCHANGE:
            if not mapping.exchange_snapshot:
                # Keeping the CRM instead would do the opposite of what was asked.
                raise ValueError("the Exchange version of this conflict was not kept")
            options = ItemTypeSyncOptions.objects.get(
                mailbox=mapping.mailbox, item_type=mapping.object_type
            )
            ts: TypeRecords[OwnedRecord] = TypeRecords(
                mailbox=mapping.mailbox,
                options=options,
                kind=kind,
                content_type=mapping.crm_content_type,
            )
            record = load_records(ts, [mapping.crm_object_id]).get(mapping.crm_object_id)
            if record is not None:
                canonical = mapping.exchange_snapshot
                kind.apply(record, canonical, mapping.mailbox)
                record.modified_at = timezone.now()
                record.save()
                replace_parties(ts, {record.pk: canonical})
                replace_occurrences(ts, {record.pk: (record, canonical)})
                fresh = load_records(ts, [record.pk])[record.pk]
                mapping.crm_fingerprint = fingerprint(kind.record_canonical(fresh))
            mapping.from_crm_change_type = ChangeType.NONE
        else:
            mapping.from_crm_change_type = ChangeType.UPDATE
        mapping.user_decision = decision
        mapping.crm_snapshot = None
        mapping.exchange_snapshot = None
        mapping.save()
    scheduling.make_due_now(mapping.mailbox_id)


def decide_conflicts(
    mappings: Iterable[ExchangeSyncIdMapping], decision: str
) -> tuple[int, list[str]]:
    """Apply one decision to conflicts: how many were settled, and why the others were not.

    The one way in for the self-service page and the admin alike. A conflict settled
    meanwhile is reported, not applied twice; one row that fails does not stop the others.
    """
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    settled, errors = 0, []
    for mapping in mappings:
        try:
            apply_decision(mapping, decision)
        except AlreadyDecided:
            errors.append(f"{mapping}: this conflict was decided already.")
        except Exception as exc:
            logger.exception("mapping %s: the decision %s failed", mapping.pk, decision)
            errors.append(f"{mapping}: {exc}")
        else:
            settled += 1
    return settled, errors
