"""A series' recurrence in the canonical form's terms, the same for every protocol.

The canonical form (`Appointment.recurrence`) is {"pattern": {"type": ..., ...},
"boundary": {"type": ..., "start": date, ...}} with the pattern and boundary names below
(exchangelib's class names and field names) and days, weeks and months as exchangelib's
1-based numbers. The EWS converter maps these names to exchangelib's classes, the Graph
converter to Graph's patternedRecurrence; `expected_starts` gives the occurrences a
pattern gives (Graph lists no cancelled occurrences: they are the expected ones it lacks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

DAILY = "DailyPattern"
WEEKLY = "WeeklyPattern"
ABSOLUTE_MONTHLY = "AbsoluteMonthlyPattern"
RELATIVE_MONTHLY = "RelativeMonthlyPattern"
ABSOLUTE_YEARLY = "AbsoluteYearlyPattern"
RELATIVE_YEARLY = "RelativeYearlyPattern"
PATTERN_TYPES = (
    DAILY,
    WEEKLY,
    ABSOLUTE_MONTHLY,
    RELATIVE_MONTHLY,
    ABSOLUTE_YEARLY,
    RELATIVE_YEARLY,
)
ABSOLUTE = (ABSOLUTE_MONTHLY, ABSOLUTE_YEARLY)
RELATIVE = (RELATIVE_MONTHLY, RELATIVE_YEARLY)
YEARLY = (ABSOLUTE_YEARLY, RELATIVE_YEARLY)

NO_END = "NoEndPattern"
END_DATE = "EndDatePattern"
NUMBERED = "NumberedPattern"
BOUNDARY_TYPES = (NO_END, END_DATE, NUMBERED)

# Weekdays 1 (Monday) to 7 (Sunday); a relative pattern's weekday may also be one of the sets.
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY, WEEKDAY, WEEKEND_DAY = 8, 9, 10
DAY_SETS = {
    DAY: frozenset(DAYS),
    WEEKDAY: frozenset(DAYS[:5]),
    WEEKEND_DAY: frozenset(DAYS[5:]),
}
LAST_WEEK = 5  # a relative pattern's week_number 5 is the last such day of the month


def day_number(day: str) -> int:
    """1 (Monday) to 7 (Sunday) for a day's English name, in any case."""
    return DAYS.index(day.lower()) + 1


def days_of(weekday: int) -> list[str]:
    """The day names (in week order) a weekday number stands for: one day, or a set."""
    if weekday in DAY_SETS:
        return [d for d in DAYS if d in DAY_SETS[weekday]]
    return [DAYS[weekday - 1]]


def _nth(year: int, month: int, days: set[str], week_number: int) -> dt.date | None:
    """The `week_number`-th (`LAST_WEEK`: last) day of `days` in a month."""
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    matching = [
        first + dt.timedelta(n)
        for n in range((following - first).days)
        if DAYS[(first + dt.timedelta(n)).weekday()] in days
    ]
    if not matching:
        return None
    if week_number == LAST_WEEK:
        return matching[-1]
    return matching[week_number - 1] if week_number <= len(matching) else None


def _day(year: int, month: int, day: int) -> dt.date:
    """Day `day` of the month, or its last day in a shorter month (as Outlook schedules)."""
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return min(dt.date(year, month, 1) + dt.timedelta(days=day - 1), following - dt.timedelta(1))


def _daily(pattern: dict[str, Any], start: dt.date, last: dt.date) -> Iterator[dt.date]:
    day, step = start, dt.timedelta(days=int(pattern.get("interval") or 1))
    while day <= last:
        yield day
        day += step


def _weekly(pattern: dict[str, Any], start: dt.date, last: dt.date) -> Iterator[dt.date]:
    first_day = int(pattern.get("first_day_of_week") or 7) - 1  # Monday = 0
    week = start - dt.timedelta(days=(start.weekday() - first_day) % 7)
    wanted = {int(d) - 1 for d in pattern.get("weekdays") or []}
    interval = int(pattern.get("interval") or 1)
    while week <= last:
        for n in range(7):
            day = week + dt.timedelta(days=n)
            if day.weekday() in wanted:
                yield day
        week += dt.timedelta(weeks=interval)


def _monthly(pattern: dict[str, Any], start: dt.date, last: dt.date) -> Iterator[dt.date]:
    kind, interval = pattern["type"], int(pattern.get("interval") or 1)
    yearly = kind in YEARLY
    step = 12 * interval if yearly else interval
    year, month = start.year, (int(pattern.get("month") or 1) if yearly else start.month)
    if yearly and dt.date(year, month, 28) < start.replace(day=1):
        year += 1
    while dt.date(year, month, 1) <= last:
        found: dt.date | None
        if kind in ABSOLUTE:
            found = _day(year, month, int(pattern.get("day_of_month") or 1))
        else:
            days = set(days_of(int(pattern.get("weekday") or 1)))
            found = _nth(year, month, days, int(pattern.get("week_number") or 1))
        if found is not None:
            yield found
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def _dates(pattern: dict[str, Any], start: dt.date, last: dt.date) -> Iterator[dt.date]:
    """The pattern's dates from `start` to `last` (both included), in order.

    A week or a month is walked whole: its days before `start` or after `last` are not
    the series' (a series ending on a Wednesday has no occurrence that Friday)."""
    if pattern["type"] == DAILY:
        days: Iterator[dt.date] = _daily(pattern, start, last)
    elif pattern["type"] == WEEKLY:
        days = _weekly(pattern, start, last)
    else:
        days = _monthly(pattern, start, last)
    return (day for day in days if start <= day <= last)


def expected_starts(
    recurrence: dict[str, Any], first_start: dt.datetime, until: dt.datetime
) -> list[dt.datetime]:
    """The starts (aware, in the zone `first_start` carries) the canonical pattern gives from
    its range's start up to `until`, its end date or its number of occurrences, whichever
    comes first."""
    boundary = recurrence.get("boundary") or {}
    start = dt.date.fromisoformat(str(boundary.get("start") or first_start.date())[:10])
    last = until.astimezone(first_start.tzinfo).date()
    if boundary.get("type") == END_DATE and boundary.get("end"):
        last = min(last, dt.date.fromisoformat(str(boundary["end"])[:10]))
    count = int(boundary["number"]) if boundary.get("type") == NUMBERED else None
    starts: list[dt.datetime] = []
    for day in _dates(recurrence["pattern"], start, last):
        if count is not None and len(starts) >= count:
            break
        starts.append(dt.datetime.combine(day, first_start.timetz()))
    return starts
