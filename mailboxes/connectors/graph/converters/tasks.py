"""Microsoft To Do tasks ⇄ the canonical task (`mailboxes/itemtypes/tasks.py`).

Graph v1.0's todoTask has no extended properties (the Outlook extended properties overview
lists message, mailFolder, event, calendar, contact and contactFolder) and no percent
complete; it keeps custom data in open extensions (the todoTask page: "Adding your data as
custom properties in open extensions"). crmsync's extension (`EXTENSION_NAME`) carries the
CRM record id, as the extended property does on other items, and the percent complete the
CRM last wrote, so an in-progress task edited in To Do keeps its percentage. Completed is
100 %, not started 0 % (Exchange's rule, `consistent`).
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

# crmsync's open extension on a task (reverse DNS, as "Create open extension" asks).
EXTENSION_NAME = "com.crmsync.record"
EXTENSION_TYPE = "microsoft.graph.openTypeExtension"
EXTENSION_EXPAND = f"extensions($filter=id eq '{EXTENSION_NAME}')"
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


def extension_of(task: Json) -> Json | None:
    """crmsync's open extension of a task (expanded with `EXTENSION_EXPAND`), if any."""
    for extension in task.get("extensions") or []:
        name = str(extension.get("extensionName") or extension.get("id") or "")
        if name.lower().endswith(EXTENSION_NAME.lower()):
            return dict(extension)
    return None


def task_record_id(task: Json) -> int | None:
    """The CRM record id a task carries in crmsync's extension, if any."""
    value = str((extension_of(task) or {}).get("recordId") or "")
    return int(value) if value.isdigit() else None


def extension(record_id: int | None, percent: int | None) -> Json:
    """crmsync's extension with the record id and the percent complete it knows."""
    body: Json = {"@odata.type": EXTENSION_TYPE, "extensionName": EXTENSION_NAME}
    if record_id is not None:
        body["recordId"] = str(record_id)
    if percent is not None:
        body["percentComplete"] = percent
    return body


def _percent(task: Json) -> int:
    try:
        return int((extension_of(task) or {}).get("percentComplete") or 0)
    except (TypeError, ValueError):
        return 0


class GraphTaskConverter:
    select: ClassVar[tuple[str, ...]] = SELECT
    extra_properties: ClassVar[tuple[str, ...]] = ()

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
        if record_id is not None:
            # Made with the task ("Create an extension in a new resource instance"); an
            # update writes it by its own request (`GraphTaskConnector.update`).
            body["extensions"] = [extension(record_id, canonical["percent_complete"])]
        return body
