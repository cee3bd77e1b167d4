"""Microsoft To Do tasks ⇄ the canonical task (`mailboxes/itemtypes/tasks.py`).

A todoTask has no percent complete: the canonical form takes Exchange's rule (completed is
100 %, not started 0 %) and, for the other states, the percentage Exchange keeps in the
task's `PidLidPercentComplete`, read and written as an extended property.
"""

from __future__ import annotations

from typing import ClassVar

from activities.models import Task
from mailboxes.connectors.base import Canonical
from mailboxes.connectors.choices import GRAPH_PRIORITY, GRAPH_TASK_STATUS
from mailboxes.connectors.graph.converters.common import (
    Json,
    body_of,
    date_time,
    parse_date_time,
    stamp_property,
    text_body,
)
from mailboxes.itemtypes.common import (
    categories,
    date_iso,
    midnight_utc,
    parse_date,
    parse_utc,
    utc_iso,
)
from mailboxes.itemtypes.tasks import consistent

# PidLidPercentComplete (a Double in the task property set, [MS-OXOTASK] 2.2.2.2.2).
PERCENT_ID = "Double {00062003-0000-0000-c000-000000000046} Id 0x8102"
SELECT = (
    "title",
    "body",
    "importance",
    "status",
    "categories",
    "dueDateTime",
    "startDateTime",
    "completedDateTime",
    "lastModifiedDateTime",
)
STATUS, PRIORITY = GRAPH_TASK_STATUS, GRAPH_PRIORITY


def _percent(task: Json) -> int:
    for prop in task.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() == PERCENT_ID.lower():
            try:
                return round(float(prop.get("value") or 0) * 100)
            except ValueError:
                return 0
    return 0


class GraphTaskConverter:
    select: ClassVar[tuple[str, ...]] = SELECT
    extra_properties: ClassVar[tuple[str, ...]] = (PERCENT_ID,)

    def canonical(self, task: Json) -> Canonical:
        status, percent = consistent(
            STATUS.crm(task.get("status")),
            _percent(task),
        )
        completed = parse_date_time(task.get("completedDateTime"))
        return {
            "subject": task.get("title") or "",
            "description": body_of(task),
            "start_date": date_iso(parse_date_time(task.get("startDateTime"))),
            "due_date": date_iso(parse_date_time(task.get("dueDateTime"))),
            "completed_at": utc_iso(completed) if status == Task.Status.COMPLETED else None,
            "status": status,
            "priority": PRIORITY.crm(task.get("importance")),
            "percent_complete": percent,
            "categories": categories(task.get("categories")),
        }

    def payload(self, canonical: Canonical, *, record_id: int | None = None) -> Json:
        body: Json = {
            "title": canonical["subject"],
            "body": text_body(canonical["description"]),
            "importance": PRIORITY.name(canonical["priority"]),
            "status": STATUS.name(canonical["status"]),
            "categories": categories(canonical["categories"]),
        }
        for key, prop in (("start_date", "startDateTime"), ("due_date", "dueDateTime")):
            day = parse_date(canonical[key])
            body[prop] = date_time(midnight_utc(day)) if day else None
        completed = parse_utc(canonical["completed_at"])
        if completed is not None:
            body["completedDateTime"] = date_time(completed)
        props = [{"id": PERCENT_ID, "value": str(canonical["percent_complete"] / 100)}]
        if record_id is not None:
            props.append(stamp_property(record_id))
        body["singleValueExtendedProperties"] = props
        return body
