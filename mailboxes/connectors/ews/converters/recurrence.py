"""A series' recurrence: exchangelib's pattern and boundary ⇄ the canonical recurrence of
`mailboxes/itemtypes/recurrence.py`, whose names are exchangelib's class and field names."""

from __future__ import annotations

import datetime as dt
from typing import Any

from exchangelib import EWSDate
from exchangelib import recurrence as ews_recurrence

from mailboxes.itemtypes.common import parse_date, utc_iso
from mailboxes.itemtypes.recurrence import BOUNDARY_TYPES, PATTERN_TYPES

PATTERNS = {name: getattr(ews_recurrence, name) for name in PATTERN_TYPES}
BOUNDARIES = {name: getattr(ews_recurrence, name) for name in BOUNDARY_TYPES}


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        return utc_iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def recurrence_to_json(recurrence: Any) -> dict[str, Any] | None:
    """exchangelib Recurrence → {"pattern": {...}, "boundary": {...}} with class names."""
    if recurrence is None or recurrence.pattern is None:
        return None
    result: dict[str, Any] = {}
    for part in ("pattern", "boundary"):
        obj = getattr(recurrence, part)
        if obj is None:
            continue
        values = {f.name: _plain(getattr(obj, f.name)) for f in obj.FIELDS}
        if part == "boundary":
            # Range dates are dates, whatever type exchangelib parsed them into.
            for key in ("start", "end"):
                if values.get(key):
                    values[key] = str(values[key])[:10]
        result[part] = {"type": type(obj).__name__, **values}
    return result


def recurrence_from_json(data: dict[str, Any] | None) -> Any:
    if not data or "pattern" not in data:
        return None
    pattern_data = dict(data["pattern"])
    pattern_cls = PATTERNS[pattern_data.pop("type")]
    pattern = pattern_cls(**{k: v for k, v in pattern_data.items() if v is not None})
    boundary = None
    if data.get("boundary"):
        boundary_data = dict(data["boundary"])
        boundary_cls = BOUNDARIES[boundary_data.pop("type")]
        values: dict[str, Any] = {}
        for key, value in boundary_data.items():
            if value is None:
                continue
            if key in ("start", "end"):
                day = parse_date(str(value))
                assert day is not None
                value = EWSDate(day.year, day.month, day.day)
            values[key] = value
        boundary = boundary_cls(**values)
    return ews_recurrence.Recurrence(pattern=pattern, boundary=boundary)
