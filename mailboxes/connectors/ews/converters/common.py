"""What the EWS item sides share: exchangelib dates, date-times and time zones.

The canonical forms, fingerprints and text/date normalisation are protocol-neutral
(`mailboxes/itemtypes/common.py`)."""

from __future__ import annotations

import datetime as dt

from exchangelib import UTC, EWSDate, EWSDateTime, EWSTimeZone

from mailboxes.connectors.timezones import canonical_tz


def ews_datetime(value: dt.datetime, tz_name: str = "") -> EWSDateTime:
    """A UTC datetime as an EWSDateTime in `tz_name` (so Exchange records the time zone)."""
    tz = ews_timezone(tz_name)
    return EWSDateTime.from_datetime(value.astimezone(dt.UTC)).astimezone(tz)


def ews_date(value: dt.date) -> EWSDate:
    return EWSDate(value.year, value.month, value.day)


def ews_timezone(tz_name: str) -> EWSTimeZone:
    if tz_name:
        try:
            return EWSTimeZone(tz_name)
        except Exception:  # an unknown or unmappable name: fall back to UTC
            return UTC
    return UTC


def tz_name_of(tz: object) -> str:
    key = getattr(tz, "key", None)
    return canonical_tz(str(key)) if key else ""
