"""CRM tasks: dates, status, priority, percent complete.

Exchange keeps a task's start and due dates as dates, so they are compared as dates and
written to the CRM as midnight UTC; a CRM time of day is kept as long as the date does not
change on the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from activities.models import ChangeOrigin, Task
from mailboxes.connectors.base import Canonical
from mailboxes.itemtypes.common import (
    TypePolicy,
    categories,
    date_iso,
    midnight_utc,
    normalise_text,
    parse_date,
    parse_utc,
    utc_iso,
)
from mailboxes.models import ItemType

if TYPE_CHECKING:
    from mailboxes.models import Mailbox


def consistent(status: str, percent: int) -> tuple[str, int]:
    """Exchange's rules: completed is 100 %, not started is 0 %."""
    if status == Task.Status.COMPLETED:
        return status, 100
    if status == Task.Status.NOT_STARTED:
        return status, 0
    return status, max(0, min(percent, 100))


class TaskType(TypePolicy[Task]):
    item_type: ClassVar[str] = ItemType.TASK
    model = Task
    default_folder: ClassVar[str] = "tasks"
    record_fields: ClassVar[tuple[str, ...]] = Task.CONTENT_FIELDS

    def record_canonical(
        self, record: Task, *, parties: Any = None, exceptions: Any = None
    ) -> Canonical:
        """The record's canonical form (a task has no parties or exceptions)."""
        status, percent = consistent(record.status, record.percent_complete)
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

    def identity(self, canonical: Canonical) -> str:
        return f"{canonical['subject'].strip().lower()}|{canonical['due_date'] or ''}"
