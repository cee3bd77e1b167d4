"""The canonical recurrence (`mailboxes/itemtypes/recurrence.py`): the occurrences a pattern
gives, and the EWS and Graph converters reading and writing the same names."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailboxes.connectors.ews.converters import recurrence as ews
from mailboxes.connectors.graph.converters import recurrence as graph
from mailboxes.itemtypes import recurrence as rec
from mailboxes.itemtypes.recurrence import expected_starts

ZONE = ZoneInfo("Europe/London")
FIRST = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZONE)  # a Tuesday
FAR = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _days(recurrence: dict[str, Any], until: dt.datetime = FAR) -> list[str]:
    starts = expected_starts(recurrence, FIRST, until)
    assert all(s.timetz() == FIRST.timetz() for s in starts)
    return [s.date().isoformat() for s in starts]


def _series(pattern: dict[str, Any], **boundary: Any) -> dict[str, Any]:
    kind = {"end": rec.END_DATE, "number": rec.NUMBERED}
    boundary_type = next((kind[k] for k in boundary if k in kind), rec.NO_END)
    return {
        "pattern": pattern,
        "boundary": {"type": boundary_type, "start": "2026-12-01", **boundary},
    }


def test_a_weekly_series_ending_mid_week_has_no_occurrence_after_its_end_date() -> None:
    # Tuesday and Friday, ending on Wednesday 2026-12-09: not Friday 2026-12-11.
    weekly = {"type": rec.WEEKLY, "interval": 1, "weekdays": [2, 5], "first_day_of_week": 1}
    assert _days(_series(weekly, end="2026-12-09")) == ["2026-12-01", "2026-12-04", "2026-12-08"]


def test_a_monthly_series_ending_before_its_day_in_the_last_month_stops_the_month_before() -> None:
    monthly = {"type": rec.ABSOLUTE_MONTHLY, "interval": 1, "day_of_month": 15}
    assert _days(_series(monthly, end="2027-02-10")) == ["2026-12-15", "2027-01-15"]
    last_friday = {
        "type": rec.RELATIVE_MONTHLY,
        "interval": 1,
        "weekday": 5,
        "week_number": rec.LAST_WEEK,
    }
    assert _days(_series(last_friday, end="2027-01-20")) == ["2026-12-25"]


def test_occurrences_stop_at_until_within_a_week() -> None:
    weekly = {"type": rec.WEEKLY, "interval": 1, "weekdays": [2, 5], "first_day_of_week": 1}
    until = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    assert _days(_series(weekly), until) == ["2026-12-01"]


def test_a_numbered_series_has_its_number_of_occurrences() -> None:
    daily = {"type": rec.DAILY, "interval": 2}
    assert _days(_series(daily, number=3)) == ["2026-12-01", "2026-12-03", "2026-12-05"]
    weekdays = {"type": rec.RELATIVE_MONTHLY, "interval": 1, "weekday": rec.WEEKDAY}
    weekdays["week_number"] = 1
    assert _days(_series(weekdays, number=2)) == ["2026-12-01", "2027-01-01"]


def test_a_monthly_day_past_a_short_months_end_is_its_last_day() -> None:
    monthly = {"type": rec.ABSOLUTE_MONTHLY, "interval": 1, "day_of_month": 31}
    assert _days(_series(monthly, number=3)) == ["2026-12-31", "2027-01-31", "2027-02-28"]


def test_a_yearly_series_starts_in_its_month() -> None:
    yearly = {"type": rec.ABSOLUTE_YEARLY, "day_of_month": 10, "month": 3}
    assert _days(_series(yearly, number=2)) == ["2027-03-10", "2028-03-10"]


def test_both_converters_know_every_canonical_name() -> None:
    assert set(ews.PATTERNS) == set(graph.PATTERNS.values()) == set(rec.PATTERN_TYPES)
    assert set(ews.BOUNDARIES) == set(graph.RANGES.values()) == set(rec.BOUNDARY_TYPES)
    assert {cls.__name__ for cls in ews.PATTERNS.values()} == set(rec.PATTERN_TYPES)


@pytest.mark.parametrize(
    "recurrence",
    [
        _series({"type": rec.DAILY, "interval": 2}, number=6),
        _series(
            {"type": rec.WEEKLY, "interval": 1, "weekdays": [1, 3], "first_day_of_week": 1},
            end="2027-01-31",
        ),
        _series(
            {"type": rec.RELATIVE_MONTHLY, "interval": 1, "weekday": rec.WEEKDAY, "week_number": 5},
            number=4,
        ),
        _series({"type": rec.ABSOLUTE_YEARLY, "day_of_month": 15, "month": 3}),
    ],
    ids=["daily", "weekly", "last-weekday-monthly", "yearly"],
)
def test_a_canonical_recurrence_goes_through_both_protocols_unchanged(
    recurrence: dict[str, Any],
) -> None:
    assert ews.recurrence_to_json(ews.recurrence_from_json(recurrence)) == recurrence
    assert graph.from_graph(graph.to_graph(recurrence, "Europe/London")) == recurrence
