"""Recurring tasks: an update that completes (or re-dates) the current occurrence generates a
one-off task, and the recurring task moves on to its next occurrence.

"UpdateItem operation (task)"
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/updateitem-operation-task):
"Changes to an occurrence of a recurring task cause one-off tasks to be generated when the
following updates are made: The status property of a regenerating or nonregenerating
recurrent task is set to Completed. The start date or end date of a nonregenerating recurrent
task is changed. … the UpdateItemResponse will include a new Id and ChangeKey that represent a
newly created one-off task. The Id that was included in the request is still valid and the
recurring task that is represented by that Id has been updated to represent the next
occurrence. … For nonrecurring tasks or the last occurrence of a recurring task, the
UpdateItem response returns the same Id that was passed to it".

Where the page is silent (ews_emulator/README.md, "Recurring tasks"): the one-off is a copy
of the updated task without its recurrence (categories and extended properties included);
the next occurrence of a non-regenerating task is the first date of its pattern, as it stood
before the update, after the current occurrence's due date; a regenerating one's is the
completion day (UTC) plus the regeneration interval; a numbered range counts one occurrence
less, and ChangeCount goes up by one, for each one-off (what exchangelib's suite records
of Exchange).
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import sqlite3
from collections.abc import Callable

from .. import items as itm
from ..mailstore import MailStore
from ..recurrence import (
    REGENERATIONS,
    first_due,
    pattern_dates,
    task_day,
    task_pattern,
    task_range,
    task_regenerating,
)
from ..soap import Element, child, fmt_dt, local, parse_dt, parse_xml, sub, t, text_of, utcnow
from ..store import ItemRow

# What of a non-regenerating task counts as its dates (the task's own and its range's).
DATES = ("StartDate", "DueDate")


def _dates(task: Element) -> tuple[str | None, ...]:
    recurrence = child(task, "Recurrence")
    bounds = task_range(recurrence) if recurrence is not None else None
    return (
        *(text_of(task, name) for name in DATES),
        *(text_of(bounds, name) for name in ("StartDate", "EndDate")),
    )


def generates(before: Element, after: Element) -> bool:
    """Whether this update of a recurring task makes a one-off of its current occurrence."""
    recurrence = child(before, "Recurrence")
    if recurrence is None or child(after, "Recurrence") is None:
        return False
    if text_of(after, "Status") == "Completed" and text_of(before, "Status") != "Completed":
        return True
    return not task_regenerating(recurrence) and _dates(before) != _dates(after)


def _add(day: dt.date, amount: int, unit: str) -> dt.date:
    if unit in ("days", "weeks"):
        return day + dt.timedelta(**{unit: amount})
    months = amount * (12 if unit == "years" else 1)
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def next_due(before: Element, today: dt.date) -> dt.date | None:
    """The due date of the occurrence after the current one, or None after the last."""
    recurrence = child(before, "Recurrence")
    assert recurrence is not None
    pattern, bounds = task_pattern(recurrence), task_range(recurrence)
    if pattern is None or bounds is None:
        return None
    numbered = local(bounds.tag) == "NumberedRecurrence"
    if numbered and int(text_of(bounds, "NumberOfOccurrences", "1") or "1") <= 1:
        return None
    following: dt.date | None
    if local(pattern.tag) in REGENERATIONS:
        interval = max(int(text_of(pattern, "Interval", "1") or "1"), 1)
        following = _add(today, interval, REGENERATIONS[local(pattern.tag)])
    else:
        current = task_day(text_of(before, "DueDate")) or first_due(recurrence)
        start = task_day(text_of(bounds, "StartDate"))
        if current is None or start is None:
            return None
        following = next((d for d in pattern_dates(recurrence, start) if d > current), None)
    end = task_day(text_of(bounds, "EndDate")) if local(bounds.tag) == "EndDateRecurrence" else None
    if following is None or (end is not None and following > end):
        return None
    return following


def _set(elem: Element, name: str, value: str | None) -> None:
    for old in elem.findall(t(name)):
        elem.remove(old)
    if value is not None:
        sub(elem, t(name), value)


def _moved(value: str | None, days: int) -> str | None:
    moment = parse_dt(value) if value else None
    if moment is None:
        return value
    return fmt_dt(moment + dt.timedelta(days=days))


def advance(task: Element, before: Element, due: dt.date) -> None:
    """Make `task` (the updated recurring task) its next occurrence, due on `due`."""
    current = task_day(text_of(before, "DueDate"))
    series = child(before, "Recurrence")
    current = current or (first_due(series) if series is not None else None)
    old_due, old_start = text_of(before, "DueDate"), text_of(before, "StartDate")
    if current is not None and old_due:
        shift = (due - current).days
        _set(task, "DueDate", _moved(old_due, shift))
        _set(task, "StartDate", _moved(old_start, shift) if old_start else None)
    else:
        midnight = fmt_dt(dt.datetime.combine(due, dt.time(), dt.UTC))
        _set(task, "DueDate", midnight)
        _set(task, "StartDate", midnight)
    _set(task, "Status", "NotStarted")
    _set(task, "PercentComplete", "0")
    _set(task, "CompleteDate", None)
    _set(task, "ChangeCount", str(int(text_of(before, "ChangeCount", "1") or "1") + 1))
    recurrence = child(task, "Recurrence")
    bounds = task_range(recurrence) if recurrence is not None else None
    if bounds is not None and local(bounds.tag) == "NumberedRecurrence":
        count = int(text_of(bounds, "NumberOfOccurrences", "1") or "1")
        number = child(bounds, "NumberOfOccurrences")
        if number is not None:
            number.text = str(max(count - 1, 1))
    itm.sort_children(task, "Task")


def one_off(task: Element) -> Element:
    """The generated one-off: the updated task without its recurrence."""
    made = copy.deepcopy(task)
    for old in made.findall(t("Recurrence")):
        made.remove(old)
    return made


def update_task(
    mail: MailStore,
    c: sqlite3.Connection,
    row: ItemRow,
    mutate: Callable[[Element], set[str]],
) -> ItemRow:
    """Apply an update to a task; for a recurring one, generate a one-off where Exchange
    does and answer it (the recurring task keeps its id and moves on)."""
    before = parse_xml(row.xml)
    made: list[Element] = []

    def regenerate(elem: Element) -> set[str]:
        touched = mutate(elem)
        itm.normalize_dates(elem)
        if not generates(before, elem):
            return touched
        due = next_due(before, utcnow().date())
        if due is None:  # the last occurrence: a plain update of the same item
            return touched
        made.append(one_off(elem))
        advance(elem, before, due)
        return touched | {"Status", "DueDate", "StartDate", "Recurrence", "ChangeCount"}

    master = mail.change_item(c, row, regenerate)
    if not made:
        return master
    mailbox = mail.store.mailbox_by_id(master.mailbox_id)
    assert mailbox is not None and master.folder_id is not None
    return mail.create_item(c, mailbox, master.folder_id, made[0], fresh=False)
