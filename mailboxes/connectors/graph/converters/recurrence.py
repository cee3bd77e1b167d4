"""A series' recurrence: Graph's patternedRecurrence ⇄ the canonical JSON of
`ews/converters/recurrence.py` (exchangelib's pattern and boundary class names and fields,
enums as exchangelib's 1-based numbers), and the occurrences a pattern gives.

Graph v1.0 has no list of a series' cancelled occurrences: they are the pattern's
occurrences that `events/{id}/instances` no longer returns (`expected_starts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from mailboxes.connectors.graph.converters.common import Json, windows_zone

# exchangelib's enums (fields.WEEKDAYS, WEEK_NUMBERS, MONTHS) are stored 1-based.
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY, WEEKDAY, WEEKEND_DAY = 8, 9, 10
DAY_SETS = {
    DAY: set(DAYS),
    WEEKDAY: set(DAYS[:5]),
    WEEKEND_DAY: set(DAYS[5:]),
}
INDEXES = ("first", "second", "third", "fourth", "last")
PATTERNS = {
    "daily": "DailyPattern",
    "weekly": "WeeklyPattern",
    "absoluteMonthly": "AbsoluteMonthlyPattern",
    "relativeMonthly": "RelativeMonthlyPattern",
    "absoluteYearly": "AbsoluteYearlyPattern",
    "relativeYearly": "RelativeYearlyPattern",
}
RANGES = {"noEnd": "NoEndPattern", "endDate": "EndDatePattern", "numbered": "NumberedPattern"}


def _day_number(day: str) -> int:
    return DAYS.index(day.lower()) + 1


def _relative_weekday(days: list[str]) -> int:
    """One exchangelib weekday for a relative pattern's days (Day, Weekday, WeekendDay)."""
    wanted = {d.lower() for d in days}
    for number, name in ((DAY, "day"), (WEEKDAY, "weekday"), (WEEKEND_DAY, "weekendday")):
        if wanted == {name}:  # not Graph's (its days are days), but clear enough
            return number
    for number, members in DAY_SETS.items():
        if wanted == members:
            return number
    return _day_number(days[0]) if days else 1


def _days_of(weekday: int) -> list[str]:
    if weekday in DAY_SETS:
        return [d for d in DAYS if d in DAY_SETS[weekday]]
    return [DAYS[weekday - 1]]


def from_graph(recurrence: Json | None) -> dict[str, Any] | None:
    """Graph patternedRecurrence → canonical recurrence JSON."""
    if not recurrence or not recurrence.get("pattern"):
        return None
    p, r = recurrence["pattern"], recurrence.get("range") or {}
    kind = PATTERNS.get(str(p.get("type")))
    if kind is None:
        return None
    interval = int(p.get("interval") or 1)
    days = [str(d) for d in p.get("daysOfWeek") or []]
    week_number = INDEXES.index(str(p.get("index") or "first").lower()) + 1
    pattern: dict[str, Any] = {"type": kind}
    if kind == "DailyPattern":
        pattern["interval"] = interval
    elif kind == "WeeklyPattern":
        first = p.get("firstDayOfWeek")
        pattern.update(
            interval=interval,
            weekdays=[_day_number(d) for d in days],
            first_day_of_week=_day_number(str(first)) if first else None,
        )
    elif kind == "AbsoluteMonthlyPattern":
        pattern.update(interval=interval, day_of_month=int(p.get("dayOfMonth") or 1))
    elif kind == "RelativeMonthlyPattern":
        pattern.update(interval=interval, weekday=_relative_weekday(days), week_number=week_number)
    elif kind == "AbsoluteYearlyPattern":
        pattern.update(day_of_month=int(p.get("dayOfMonth") or 1), month=int(p.get("month") or 1))
    else:
        pattern.update(
            weekday=_relative_weekday(days), week_number=week_number, month=int(p.get("month") or 1)
        )
    range_kind = RANGES.get(str(r.get("type")), "NoEndPattern")
    boundary: dict[str, Any] = {"type": range_kind, "start": str(r.get("startDate") or "")[:10]}
    if range_kind == "EndDatePattern":
        boundary["end"] = str(r.get("endDate") or "")[:10]
    elif range_kind == "NumberedPattern":
        boundary["number"] = int(r.get("numberOfOccurrences") or 1)
    return {"pattern": pattern, "boundary": boundary}


def to_graph(recurrence: dict[str, Any] | None, tz_name: str) -> Json | None:
    """Canonical recurrence JSON → Graph patternedRecurrence (in the series' zone)."""
    if not recurrence or "pattern" not in recurrence:
        return None
    p = recurrence["pattern"]
    kind = {v: k for k, v in PATTERNS.items()}[p["type"]]
    pattern: Json = {"type": kind, "interval": int(p.get("interval") or 1)}
    if kind == "weekly":
        pattern["daysOfWeek"] = [DAYS[d - 1] for d in p.get("weekdays") or []]
        if p.get("first_day_of_week"):
            pattern["firstDayOfWeek"] = DAYS[int(p["first_day_of_week"]) - 1]
    if kind in ("relativeMonthly", "relativeYearly"):
        pattern["daysOfWeek"] = _days_of(int(p.get("weekday") or 1))
        pattern["index"] = INDEXES[int(p.get("week_number") or 1) - 1]
    if kind in ("absoluteMonthly", "absoluteYearly"):
        pattern["dayOfMonth"] = int(p.get("day_of_month") or 1)
    if kind in ("absoluteYearly", "relativeYearly"):
        pattern["month"] = int(p.get("month") or 1)
    b = recurrence.get("boundary") or {}
    range_kind = {v: k for k, v in RANGES.items()}.get(b.get("type", ""), "noEnd")
    rng: Json = {
        "type": range_kind,
        "startDate": b.get("start"),
        "recurrenceTimeZone": windows_zone(tz_name),
    }
    if range_kind == "endDate":
        rng["endDate"] = b.get("end")
    if range_kind == "numbered":
        rng["numberOfOccurrences"] = int(b.get("number") or 1)
    return {"pattern": pattern, "range": rng}


def _nth(year: int, month: int, days: set[str], week_number: int) -> dt.date | None:
    """The `week_number`-th (5: last) day of `days` in a month."""
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    matching = [
        first + dt.timedelta(n)
        for n in range((following - first).days)
        if DAYS[(first + dt.timedelta(n)).weekday()] in days
    ]
    if not matching:
        return None
    return (
        matching[-1]
        if week_number == 5
        else (matching[week_number - 1] if week_number <= len(matching) else None)
    )


def _day(year: int, month: int, day: int) -> dt.date:
    """Day `day` of the month, or its last day in a shorter month (as Outlook schedules)."""
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return min(dt.date(year, month, 1) + dt.timedelta(days=day - 1), following - dt.timedelta(1))


def _dates(pattern: dict[str, Any], start: dt.date, last: dt.date) -> Iterator[dt.date]:
    """Candidate dates of the pattern from `start` to `last`, in order."""
    kind, interval = pattern["type"], int(pattern.get("interval") or 1)
    if kind == "DailyPattern":
        day = start
        while day <= last:
            yield day
            day += dt.timedelta(days=interval)
    elif kind == "WeeklyPattern":
        first_day = int(pattern.get("first_day_of_week") or 7) - 1  # Monday = 0
        week = start - dt.timedelta(days=(start.weekday() - first_day) % 7)
        wanted = {int(d) - 1 for d in pattern.get("weekdays") or []}
        while week <= last:
            for n in range(7):
                day = week + dt.timedelta(days=n)
                if day.weekday() in wanted:
                    yield day
            week += dt.timedelta(weeks=interval)
    else:
        yearly = kind in ("AbsoluteYearlyPattern", "RelativeYearlyPattern")
        step = 12 * interval if yearly else interval
        year, month = start.year, (int(pattern.get("month") or 1) if yearly else start.month)
        if yearly and dt.date(year, month, 28) < start.replace(day=1):
            year += 1
        while dt.date(year, month, 1) <= last:
            found: dt.date | None
            if kind in ("AbsoluteMonthlyPattern", "AbsoluteYearlyPattern"):
                found = _day(year, month, int(pattern.get("day_of_month") or 1))
            else:
                days = set(_days_of(int(pattern.get("weekday") or 1)))
                found = _nth(year, month, days, int(pattern.get("week_number") or 1))
            if found is not None:
                yield found
            month += step
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def expected_starts(
    recurrence: dict[str, Any], first_start: dt.datetime, until: dt.datetime
) -> list[dt.datetime]:
    """The starts (aware, in the zone `first_start` carries) the canonical pattern gives from
    its range's start up to `until`, its end date or its number of occurrences."""
    boundary = recurrence.get("boundary") or {}
    start = dt.date.fromisoformat(str(boundary.get("start") or first_start.date())[:10])
    last = until.astimezone(first_start.tzinfo).date()
    if boundary.get("type") == "EndDatePattern" and boundary.get("end"):
        last = min(last, dt.date.fromisoformat(str(boundary["end"])[:10]))
    count = int(boundary["number"]) if boundary.get("type") == "NumberedPattern" else None
    starts: list[dt.datetime] = []
    for day in _dates(recurrence["pattern"], start, last):
        if day < start:
            continue
        if count is not None and len(starts) >= count:
            break
        starts.append(dt.datetime.combine(day, first_start.timetz()))
    return starts
