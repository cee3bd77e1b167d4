"""A series' recurrence: Graph's patternedRecurrence ⇄ the canonical recurrence of
`mailboxes/itemtypes/recurrence.py` (whose tables name the patterns, boundaries and days).

Graph v1.0 has no list of a series' cancelled occurrences: they are the pattern's
occurrences (`recurrence.expected_starts`) that `events/{id}/instances` no longer returns.
"""

from __future__ import annotations

from typing import Any

from mailboxes.connectors.graph.converters.common import Json, windows_zone
from mailboxes.itemtypes import recurrence as rec
from mailboxes.itemtypes.recurrence import DAYS, days_of

INDEXES = ("first", "second", "third", "fourth", "last")
PATTERNS = {
    "daily": rec.DAILY,
    "weekly": rec.WEEKLY,
    "absoluteMonthly": rec.ABSOLUTE_MONTHLY,
    "relativeMonthly": rec.RELATIVE_MONTHLY,
    "absoluteYearly": rec.ABSOLUTE_YEARLY,
    "relativeYearly": rec.RELATIVE_YEARLY,
}
RANGES = {"noEnd": rec.NO_END, "endDate": rec.END_DATE, "numbered": rec.NUMBERED}
GRAPH_PATTERNS = {v: k for k, v in PATTERNS.items()}
GRAPH_RANGES = {v: k for k, v in RANGES.items()}
SET_NAMES = {rec.DAY: "day", rec.WEEKDAY: "weekday", rec.WEEKEND_DAY: "weekendday"}


def _relative_weekday(days: list[str]) -> int:
    """One weekday number for a relative pattern's days (Day, Weekday, WeekendDay)."""
    wanted = {d.lower() for d in days}
    for number, name in SET_NAMES.items():
        if wanted == {name}:  # not Graph's (its days are days), but clear enough
            return number
    for number, members in rec.DAY_SETS.items():
        if wanted == members:
            return number
    return rec.day_number(days[0]) if days else 1


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
    if kind == rec.DAILY:
        pattern["interval"] = interval
    elif kind == rec.WEEKLY:
        first = p.get("firstDayOfWeek")
        pattern.update(
            interval=interval,
            weekdays=[rec.day_number(d) for d in days],
            first_day_of_week=rec.day_number(str(first)) if first else None,
        )
    elif kind == rec.ABSOLUTE_MONTHLY:
        pattern.update(interval=interval, day_of_month=int(p.get("dayOfMonth") or 1))
    elif kind == rec.RELATIVE_MONTHLY:
        pattern.update(interval=interval, weekday=_relative_weekday(days), week_number=week_number)
    elif kind == rec.ABSOLUTE_YEARLY:
        pattern.update(day_of_month=int(p.get("dayOfMonth") or 1), month=int(p.get("month") or 1))
    else:
        pattern.update(
            weekday=_relative_weekday(days), week_number=week_number, month=int(p.get("month") or 1)
        )
    range_kind = RANGES.get(str(r.get("type")), rec.NO_END)
    boundary: dict[str, Any] = {"type": range_kind, "start": str(r.get("startDate") or "")[:10]}
    if range_kind == rec.END_DATE:
        boundary["end"] = str(r.get("endDate") or "")[:10]
    elif range_kind == rec.NUMBERED:
        boundary["number"] = int(r.get("numberOfOccurrences") or 1)
    return {"pattern": pattern, "boundary": boundary}


def to_graph(recurrence: dict[str, Any] | None, tz_name: str) -> Json | None:
    """Canonical recurrence JSON → Graph patternedRecurrence (in the series' zone)."""
    if not recurrence or "pattern" not in recurrence:
        return None
    p = recurrence["pattern"]
    kind = p["type"]
    pattern: Json = {"type": GRAPH_PATTERNS[kind], "interval": int(p.get("interval") or 1)}
    if kind == rec.WEEKLY:
        pattern["daysOfWeek"] = [DAYS[d - 1] for d in p.get("weekdays") or []]
        if p.get("first_day_of_week"):
            pattern["firstDayOfWeek"] = DAYS[int(p["first_day_of_week"]) - 1]
    if kind in rec.RELATIVE:
        pattern["daysOfWeek"] = days_of(int(p.get("weekday") or 1))
        pattern["index"] = INDEXES[int(p.get("week_number") or 1) - 1]
    if kind in rec.ABSOLUTE:
        pattern["dayOfMonth"] = int(p.get("day_of_month") or 1)
    if kind in rec.YEARLY:
        pattern["month"] = int(p.get("month") or 1)
    b = recurrence.get("boundary") or {}
    range_kind = GRAPH_RANGES.get(b.get("type", ""), "noEnd")
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
