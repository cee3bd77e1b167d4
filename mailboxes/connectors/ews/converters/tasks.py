"""Exchange tasks ⇄ CRM tasks: dates, status, priority, percent complete.

Exchange keeps a task's start and due dates as dates (exchangelib exposes them as dates),
so they are compared as dates and written to the CRM as midnight UTC; a CRM time of day is
kept as long as the date does not change in Exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

from exchangelib import Task as EwsTask
from exchangelib.items import Item

from activities.models import ChangeOrigin, Task
from mailboxes.connectors.ews.converters.common import (
    Canonical,
    TypePolicy,
    body_text,
    categories,
    date_iso,
    ews_date,
    midnight_utc,
    normalise_text,
    parse_date,
    parse_utc,
    utc_iso,
)
from mailboxes.models import ItemType, Mailbox

STATUS_FROM_EWS = {
    "NotStarted": Task.Status.NOT_STARTED,
    "InProgress": Task.Status.IN_PROGRESS,
    "Completed": Task.Status.COMPLETED,
    "WaitingOnOthers": Task.Status.WAITING,
    "Deferred": Task.Status.DEFERRED,
}
STATUS_TO_EWS = {v: k for k, v in STATUS_FROM_EWS.items()}
PRIORITY_FROM_EWS = {
    "Low": Task.Priority.LOW,
    "Normal": Task.Priority.NORMAL,
    "High": Task.Priority.HIGH,
}
PRIORITY_TO_EWS = {v: k for k, v in PRIORITY_FROM_EWS.items()}


def _consistent(status: str, percent: int) -> tuple[str, int]:
    """Exchange's rules: completed is 100 %, not started is 0 %."""
    if status == Task.Status.COMPLETED:
        return status, 100
    if status == Task.Status.NOT_STARTED:
        return status, 0
    return status, max(0, min(percent, 100))


class TaskConverter(TypePolicy):
    item_type: ClassVar[str] = ItemType.TASK
    model: ClassVar[type[Task]] = Task
    distinguished_folder: ClassVar[str] = "tasks"
    ews_class: ClassVar[type[Item]] = EwsTask
    ews_fields: ClassVar[tuple[str, ...]] = (
        "subject",
        "body",
        "start_date",
        "due_date",
        "complete_date",
        "status",
        "percent_complete",
        "importance",
        "categories",
        "last_modified_time",
        "item_class",
    )
    update_fields: ClassVar[tuple[str, ...]] = (
        "subject",
        "body",
        "start_date",
        "due_date",
        "status",
        "percent_complete",
        "importance",
        "categories",
    )
    record_fields: ClassVar[tuple[str, ...]] = (
        "subject",
        "description",
        "start_date",
        "due_date",
        "completed_at",
        "status",
        "priority",
        "percent_complete",
        "categories",
    )

    def item_canonical(self, item: Any, occurrences: dict[str, Any] | None = None) -> Canonical:
        status, percent = _consistent(
            STATUS_FROM_EWS.get(item.status or "NotStarted", Task.Status.NOT_STARTED),
            int(item.percent_complete or 0),
        )
        return {
            "subject": item.subject or "",
            "description": body_text(item.body),
            "start_date": date_iso(item.start_date),
            "due_date": date_iso(item.due_date),
            "completed_at": utc_iso(item.complete_date)
            if status == Task.Status.COMPLETED
            else None,
            "status": status,
            "priority": PRIORITY_FROM_EWS.get(item.importance or "Normal", Task.Priority.NORMAL),
            "percent_complete": percent,
            "categories": categories(item.categories),
        }

    def record_canonical(
        self, record: Task, *, parties: object = None, exceptions: object = None
    ) -> Canonical:
        """The record's canonical form (a task has no parties or exceptions)."""
        status, percent = _consistent(record.status, record.percent_complete)
        return {
            "subject": record.subject,
            "description": normalise_text(record.description),
            "start_date": date_iso(record.start_date),
            "due_date": date_iso(record.due_date),
            "completed_at": utc_iso(record.completed_at)
            if status == Task.Status.COMPLETED
            else None,
            "status": status,
            "priority": record.priority,
            "percent_complete": percent,
            "categories": categories(record.categories),
        }

    def apply(self, record: Task, canonical: Canonical, mailbox: Mailbox) -> None:
        record.subject = canonical["subject"][:500]
        record.description = canonical["description"]
        for name in ("start_date", "due_date"):
            day = parse_date(canonical[name])
            current = getattr(record, name)
            if day is None:
                setattr(record, name, None)
            elif date_iso(current) != canonical[name]:
                setattr(record, name, midnight_utc(day))
        record.status = canonical["status"]
        record.priority = canonical["priority"]
        record.percent_complete = canonical["percent_complete"]
        if canonical["completed_at"] is None:
            record.completed_at = None
        elif utc_iso(record.completed_at) != canonical["completed_at"]:
            record.completed_at = parse_utc(canonical["completed_at"])
        record.categories = list(canonical["categories"])
        record.change_origin = ChangeOrigin.SYNC
        record.change_origin_mailbox = mailbox

    def build_item(
        self, canonical: Canonical, *, stamp_categories: Sequence[str], folder: Any
    ) -> EwsTask:
        start = parse_date(canonical["start_date"])
        due = parse_date(canonical["due_date"])
        completed = parse_utc(canonical["completed_at"])
        return EwsTask(
            folder=folder,
            subject=canonical["subject"],
            body=canonical["description"] or None,
            start_date=ews_date(start) if start else None,
            due_date=ews_date(due) if due else None,
            complete_date=completed,
            status=STATUS_TO_EWS[canonical["status"]],
            percent_complete=Decimal(canonical["percent_complete"]),
            importance=PRIORITY_TO_EWS[canonical["priority"]],
            categories=categories([*canonical["categories"], *stamp_categories]) or None,
        )

    def identity(self, canonical: Canonical) -> str:
        return f"{canonical['subject'].strip().lower()}|{canonical['due_date'] or ''}"
