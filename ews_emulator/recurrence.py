"""Expansion of recurring calendar series into occurrences (for CalendarView and friends)."""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import functools
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from lxml import etree

from .items import sort_children
from .soap import Element, child, children, fmt_dt, local, parse_dt, parse_xml, sub, t, text_of

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = tuple(calendar.month_name)[1:]
WEEK_INDEX = {"First": 0, "Second": 1, "Third": 2, "Fourth": 3, "Last": -1}
MAX_OCCURRENCES = 3000
OCCURRENCE_MARK = b"\x02"


def occurrence_id(master_id: str, index: int) -> str:
    return base64.b64encode(OCCURRENCE_MARK + f"{index}|{master_id}".encode()).decode()


def parse_occurrence_id(item_id: str) -> tuple[str, int] | None:
    try:
        raw = base64.b64decode(item_id, validate=True)
    except ValueError:
        return None
    if not raw.startswith(OCCURRENCE_MARK):
        return None
    index, _, master = raw[1:].decode(errors="replace").partition("|")
    if not index.isdigit() or not master:
        return None
    return master, int(index)


@functools.lru_cache(maxsize=256)
def _zone(ms_id: str) -> dt.tzinfo:
    try:
        from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

        return ZoneInfo(MS_TIMEZONE_TO_IANA_MAP[ms_id])
    except (ImportError, KeyError, ValueError):
        return dt.UTC


def series_zone(master: Element) -> dt.tzinfo:
    tz = child(master, "StartTimeZone")
    if tz is None:
        tz = child(master, "MeetingTimeZone")
    ms_id = tz.get("Id") if tz is not None else None
    return _zone(ms_id) if ms_id else dt.UTC


def _days(value: str | None) -> list[int]:
    out: list[int] = []
    for word in (value or "").split():
        if word in WEEKDAYS:
            out.append(WEEKDAYS.index(word))
        elif word == "Weekday":
            out.extend(range(5))
        elif word == "WeekendDay":
            out.extend((5, 6))
        elif word == "Day":
            out.extend(range(7))
    return sorted(set(out))


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _nth_weekday(year: int, month: int, weekdays: list[int], index: int) -> dt.date | None:
    """The index-th day of the month that is one of `weekdays` (so "the last Weekday" is
    the month's last working day, as DayOfWeekIndex with Weekday means)."""
    days = [
        dt.date(year, month, d)
        for d in range(1, calendar.monthrange(year, month)[1] + 1)
        if dt.date(year, month, d).weekday() in weekdays
    ]
    try:
        return days[index]
    except IndexError:
        return None


def _months(start: dt.date, interval: int) -> Iterator[tuple[int, int]]:
    year, month = start.year, start.month
    while year < 2200:
        yield year, month
        month += interval
        while month > 12:
            month -= 12
            year += 1


def pattern_dates(recurrence: Element, first: dt.date) -> Iterator[dt.date]:
    """Dates the pattern produces from `first` on, unbounded (callers stop)."""
    pattern = next((c for c in recurrence if local(c.tag).endswith("Recurrence")), None)
    if pattern is None:
        return
    kind = local(pattern.tag)
    interval = max(int(text_of(pattern, "Interval", "1") or "1"), 1)
    if kind == "DailyRecurrence":
        day = first
        while day.year < 2200:
            yield day
            day += dt.timedelta(days=interval)
    elif kind == "WeeklyRecurrence":
        days = _days(text_of(pattern, "DaysOfWeek")) or [first.weekday()]
        fdow = text_of(pattern, "FirstDayOfWeek", "Monday") or "Monday"
        fdow_i = WEEKDAYS.index(fdow) if fdow in WEEKDAYS else 0
        week_start = first - dt.timedelta(days=(first.weekday() - fdow_i) % 7)
        while week_start.year < 2200:
            for offset in range(7):
                day = week_start + dt.timedelta(days=offset)
                if day.weekday() in days and day >= first:
                    yield day
            week_start += dt.timedelta(weeks=interval)
    elif kind in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
        dom = int(text_of(pattern, "DayOfMonth", str(first.day)) or first.day)
        if kind == "AbsoluteYearlyRecurrence":
            month_name = text_of(pattern, "Month", MONTHS[first.month - 1])
            month = MONTHS.index(month_name) + 1 if month_name in MONTHS else first.month
            months: Iterator[tuple[int, int]] = ((y, month) for y in range(first.year, 2200))
        else:
            months = _months(first, interval)
        for year, mon in months:
            day = dt.date(year, mon, min(dom, calendar.monthrange(year, mon)[1]))
            if day >= first:
                yield day
    elif kind in ("RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        weekdays = _days(text_of(pattern, "DaysOfWeek")) or [first.weekday()]
        index = WEEK_INDEX.get(text_of(pattern, "DayOfWeekIndex", "First") or "First", 0)
        if kind == "RelativeYearlyRecurrence":
            month_name = text_of(pattern, "Month", MONTHS[first.month - 1])
            month = MONTHS.index(month_name) + 1 if month_name in MONTHS else first.month
            months = ((y, month) for y in range(first.year, 2200))
        else:
            months = _months(first, interval)
        for year, mon in months:
            found = _nth_weekday(year, mon, weekdays, index)
            if found is not None and found >= first:
                yield found


def occurrence_times(master: Element) -> Iterator[tuple[int, dt.datetime, dt.datetime]]:
    """(index, start, end) of every occurrence of a series, deleted ones included."""
    recurrence = child(master, "Recurrence")
    start, end = parse_dt(text_of(master, "Start")), parse_dt(text_of(master, "End"))
    if recurrence is None or start is None or end is None:
        return
    zone = series_zone(master)
    local_start = start.astimezone(zone)
    duration = end - start
    ranges = [c for c in recurrence if local(c.tag) in RANGES]
    rng = ranges[0] if ranges else None
    first = _date(text_of(rng, "StartDate")) or local_start.date()
    last = _date(text_of(rng, "EndDate")) if rng is not None else None
    count = None
    if rng is not None and local(rng.tag) == "NumberedRecurrence":
        count = int(text_of(rng, "NumberOfOccurrences", "1") or 1)
    for index, day in enumerate(pattern_dates(recurrence, first), start=1):
        if index > MAX_OCCURRENCES or (count is not None and index > count):
            return
        if last is not None and day > last:
            return
        naive = dt.datetime.combine(day, local_start.time().replace(tzinfo=None))
        occ_start = naive.replace(tzinfo=zone).astimezone(dt.UTC)
        yield index, occ_start, occ_start + duration


RANGES = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")


def deleted_starts(master: Element) -> set[str]:
    return {
        text_of(d, "Start") or ""
        for d in children(child(master, "DeletedOccurrences"), "DeletedOccurrence")
    }


def modified_starts(master: Element) -> set[str]:
    return {
        text_of(o, "OriginalStart") or ""
        for o in children(child(master, "ModifiedOccurrences"), "Occurrence")
    }


def _occ_info(
    tag: str, master_id: str, change_key: str, index: int, start: dt.datetime, end: dt.datetime
) -> Element:
    elem = etree.Element(t(tag))
    sub(elem, t("ItemId"), Id=occurrence_id(master_id, index), ChangeKey=change_key)
    sub(elem, t("Start"), fmt_dt(start))
    sub(elem, t("End"), fmt_dt(end))
    sub(elem, t("OriginalStart"), fmt_dt(start))
    return elem


def first_last(master: Element) -> tuple[Element | None, Element | None]:
    """FirstOccurrence / LastOccurrence elements of a recurring master."""
    item_id = child(master, "ItemId")
    if item_id is None:
        return None, None
    master_id, change_key = item_id.get("Id", ""), item_id.get("ChangeKey", "")
    skipped = deleted_starts(master)
    first = last = None
    recurrence = child(master, "Recurrence")
    bounded = recurrence is not None and not children(recurrence, "NoEndRecurrence")
    for index, start, end in occurrence_times(master):
        if fmt_dt(start) in skipped:
            continue
        if first is None:
            first = (index, start, end)
            if not bounded:
                break
        last = (index, start, end)
    first_el = _occ_info("FirstOccurrence", master_id, change_key, *first) if first else None
    last_el = (
        _occ_info("LastOccurrence", master_id, change_key, *last) if last and bounded else None
    )
    return first_el, last_el


def occurrence_index(master: Element, original_start: str) -> int | None:
    for index, start, _ in occurrence_times(master):
        if fmt_dt(start) == original_start:
            return index
        if fmt_dt(start) > original_start:
            return None
    return None


def occurrence_by_index(master: Element, wanted: int) -> tuple[dt.datetime, dt.datetime] | None:
    for index, start, end in occurrence_times(master):
        if index == wanted:
            return start, end
        if index > wanted:
            break
    return None


SERIES_ONLY = (
    "Recurrence",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
)


def occurrence_element(
    master: Element, index: int, start: dt.datetime, end: dt.datetime
) -> Element:
    """An unmodified occurrence as EWS shows it: the master's properties at its own time."""
    occ = parse_xml(etree.tostring(master))
    master_id_el = child(occ, "ItemId")
    master_id = master_id_el.get("Id", "") if master_id_el is not None else ""
    if master_id_el is not None:
        master_id_el.set("Id", occurrence_id(master_id, index))
    replaced = ("Start", "End", "CalendarItemType", "OriginalStart", "RecurrenceId", "IsRecurring")
    for name in (*SERIES_ONLY, *replaced):
        for old in children(occ, name):
            occ.remove(old)
    sub(occ, t("IsRecurring"), "true")
    sub(occ, t("Start"), fmt_dt(start))
    sub(occ, t("End"), fmt_dt(end))
    sub(occ, t("OriginalStart"), fmt_dt(start))
    sub(occ, t("RecurrenceId"), fmt_dt(start))
    sub(occ, t("CalendarItemType"), "Occurrence")
    sort_children(occ, "CalendarItem")
    return occ


def window_occurrences(
    master: Element,
    window_start: dt.datetime,
    window_end: dt.datetime,
    *,
    touching: bool = False,
) -> Iterator[tuple[int, dt.datetime, dt.datetime]]:
    """Unmodified, undeleted occurrences overlapping [window_start, window_end); `touching`
    also counts one ending at window_start (as EWS's CalendarView does)."""
    skipped = deleted_starts(master) | modified_starts(master)
    for index, start, end in occurrence_times(master):
        if start >= window_end:
            return
        overlaps = end >= window_start if touching else end > window_start
        if overlaps and fmt_dt(start) not in skipped:
            yield index, start, end


# -- tasks ---------------------------------------------------------------------------------
# A task's recurrence is a pattern (the calendar ones, or a regeneration) and a range, all
# in dates; ews_emulator/operations/tasks.py regenerates occurrences.

REGENERATIONS = {
    "DailyRegeneration": "days",
    "WeeklyRegeneration": "weeks",
    "MonthlyRegeneration": "months",
    "YearlyRegeneration": "years",
}


def task_pattern(recurrence: Element) -> Element | None:
    return next((c for c in recurrence if local(c.tag) not in RANGES), None)


def task_range(recurrence: Element) -> Element | None:
    return next((c for c in recurrence if local(c.tag) in RANGES), None)


def task_regenerating(recurrence: Element) -> bool:
    pattern = task_pattern(recurrence)
    return pattern is not None and local(pattern.tag) in REGENERATIONS


def task_day(value: str | None) -> dt.date | None:
    if not value:
        return None
    moment = parse_dt(value) if "T" in value else None
    if moment is not None:
        return moment.astimezone(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def first_due(recurrence: Element) -> dt.date | None:
    """The first occurrence of a new recurring task: its range's start, or the pattern's
    first date from there."""
    bounds = task_range(recurrence)
    start = task_day(text_of(bounds, "StartDate"))
    if start is None or task_regenerating(recurrence):
        return start
    return next(pattern_dates(recurrence, start), start)


def with_first_occurrence(task: Element) -> None:
    """A new recurring task without dates is due (and starts) on its first occurrence."""
    recurrence = child(task, "Recurrence")
    if recurrence is None or child(task, "DueDate") is not None:
        return
    due = first_due(recurrence)
    if due is None:
        return
    midnight = fmt_dt(dt.datetime.combine(due, dt.time(), dt.UTC))
    sub(task, t("DueDate"), midnight)
    if child(task, "StartDate") is None:
        sub(task, t("StartDate"), midnight)
    sort_children(task, "Task")
