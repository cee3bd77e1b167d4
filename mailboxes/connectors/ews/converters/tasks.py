"""Exchange tasks ⇄ canonical tasks (`mailboxes/itemtypes/tasks.py`).

Exchange keeps a task's start and due dates as dates (exchangelib exposes them as dates),
so they are compared as dates.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from exchangelib import Task as EwsTask
from exchangelib.items import Item

from activities.models import Task
from mailboxes.connectors.base import Canonical
from mailboxes.connectors.choices import EWS_PRIORITY, EWS_TASK_STATUS
from mailboxes.connectors.ews.converters.common import ews_date
from mailboxes.itemtypes.common import (
    body_text,
    categories,
    date_iso,
    parse_date,
    parse_utc,
    utc_iso,
)
from mailboxes.itemtypes.tasks import consistent

STATUS, PRIORITY = EWS_TASK_STATUS, EWS_PRIORITY


class TaskConverter:
    ews_class: ClassVar[type[Item]] = EwsTask
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
    # What we read: what we write, plus Exchange's completion time and the bookkeeping of
    # the item.
    ews_fields: ClassVar[tuple[str, ...]] = (
        *update_fields,
        "complete_date",
        "last_modified_time",
        "item_class",
    )

    def item_canonical(self, item: Any, occurrences: dict[str, Any] | None = None) -> Canonical:
        status, percent = consistent(
            STATUS.crm(item.status),
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
            "priority": PRIORITY.crm(item.importance),
            "percent_complete": percent,
            "categories": categories(item.categories),
        }

    def build_item(self, canonical: Canonical, *, folder: Any) -> EwsTask:
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
            status=STATUS.name(canonical["status"]),
            percent_complete=Decimal(canonical["percent_complete"]),
            importance=PRIORITY.name(canonical["priority"]),
            categories=canonical["categories"] or None,
        )
