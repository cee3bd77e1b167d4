"""What one pulled page decides (`mailboxes/sync/page.decide`), on rows in memory: no
database, no server. Creating, leaving, taking the server's version, and each conflict
strategy."""

from __future__ import annotations

import datetime as dt

from django.contrib.contenttypes.models import ContentType

from activities.models import Task
from mailboxes.connectors.base import RemoteItem
from mailboxes.itemtypes import TYPES, fingerprint
from mailboxes.models import (
    ChangeType,
    ExchangeSyncIdMapping,
    ItemType,
    ItemTypeSyncOptions,
    Mailbox,
)
from mailboxes.sync.page import Loaded, decide
from mailboxes.sync.records import TypeRecords

KIND = TYPES[ItemType.TASK]
Strategy = ItemTypeSyncOptions.ConflictStrategy
EARLY = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
LATE = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def _tasks(**options: object) -> TypeRecords[Task]:
    return TypeRecords(
        mailbox=Mailbox(pk=1, user_id=7, email_address="me@example.com"),
        options=ItemTypeSyncOptions(item_type=ItemType.TASK, **options),
        kind=KIND,
        content_type=ContentType(app_label="activities", model="task"),
    )


def _item(subject: str, change_key: str = "ck2", modified_at: dt.datetime = LATE) -> RemoteItem:
    canonical = KIND.record_canonical(Task(subject=subject))
    return RemoteItem("item-1", change_key, canonical, "tasks", modified_at=modified_at)


def _linked(record: Task, *, crm_seen: str) -> ExchangeSyncIdMapping:
    """A mapping last synced when both sides held `crm_seen`."""
    seen = fingerprint(KIND.record_canonical(Task(subject=crm_seen)))
    return ExchangeSyncIdMapping(
        pk=3,
        crm_object_id=record.pk,
        exchange_item_id="item-1",
        change_key="ck1",
        crm_fingerprint=seen,
        exchange_fingerprint=seen,
    )


def _loaded(item: RemoteItem, mapping: ExchangeSyncIdMapping | None, record: Task | None):
    return Loaded(
        items=[item],
        canonicals={item.id: item.canonical},
        mappings={item.id: mapping} if mapping is not None else {},
        records={record.pk: record} if record is not None and mapping is not None else {},
        matches={item.id: record} if record is not None and mapping is None else {},
    )


def test_a_new_server_item_becomes_a_new_record_of_the_mailboxs_owner() -> None:
    ts = _tasks(exchange_to_crm=True)
    plan = decide(ts, _loaded(_item("Call Ann"), None, None), "tasks")

    ((record, item),) = plan.new_records
    assert (record.subject, record.owner_user_id, item.id) == ("Call Ann", 7, "item-1")
    assert plan.changed == {} and plan.new_mappings == []


def test_a_new_server_item_is_left_out_when_the_type_does_not_import() -> None:
    plan = decide(_tasks(exchange_to_crm=False), _loaded(_item("Call Ann"), None, None), "tasks")

    assert plan.new_records == [] and plan.new_mappings == []


def test_an_unmapped_item_matching_a_record_is_linked_to_it() -> None:
    record = Task(pk=5, subject="Call Ann", modified_at=EARLY)
    plan = decide(_tasks(exchange_to_crm=True), _loaded(_item("Call Ann"), None, record), "tasks")

    (mapping,) = plan.new_mappings
    assert (mapping.crm_object_id, mapping.exchange_item_id) == (5, "item-1")
    assert plan.new_records == [] and plan.changed == {}


def test_the_version_we_last_saw_changes_nothing_in_the_crm() -> None:
    record = Task(pk=5, subject="Old", modified_at=EARLY)
    mapping = _linked(record, crm_seen="Old")
    plan = decide(_tasks(), _loaded(_item("Whatever", change_key="ck1"), mapping, record), "tasks")

    # only its change key is written (`page.update_unchanged`), not the whole mapping
    assert plan.changed == {} and plan.touched == {} and plan.unchanged == {3: mapping}
    assert record.subject == "Old"


def test_a_change_on_the_server_alone_is_taken_into_the_crm() -> None:
    record = Task(pk=5, subject="Old", modified_at=EARLY)
    mapping = _linked(record, crm_seen="Old")
    plan = decide(_tasks(exchange_to_crm=True), _loaded(_item("New"), mapping, record), "tasks")

    assert plan.changed == {5: (record, _item("New").canonical)}
    assert record.subject == "New"
    assert (mapping.change_key, mapping.to_crm_change_type) == ("ck2", ChangeType.UPDATE)


def test_both_sides_changed_follow_the_strategy() -> None:
    outcomes = {}
    for strategy in (Strategy.CRM_WINS, Strategy.EXCHANGE_WINS, Strategy.MANUAL):
        record = Task(pk=5, subject="CRM edit", modified_at=EARLY)
        mapping = _linked(record, crm_seen="Old")
        ts = _tasks(exchange_to_crm=True, conflict_strategy=strategy)
        plan = decide(ts, _loaded(_item("Server edit"), mapping, record), "tasks")
        outcomes[strategy] = (
            record.subject,
            mapping.from_crm_change_type,
            mapping.user_decision,
            bool(plan.changed),
        )

    pending = ExchangeSyncIdMapping.UserDecision.PENDING
    none = ExchangeSyncIdMapping.UserDecision.NONE
    assert outcomes == {
        Strategy.CRM_WINS: ("CRM edit", ChangeType.UPDATE, none, False),
        Strategy.EXCHANGE_WINS: ("Server edit", ChangeType.NONE, none, True),
        Strategy.MANUAL: ("CRM edit", ChangeType.NONE, pending, False),
    }
