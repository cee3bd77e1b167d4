"""What the converters share: the canonical form, fingerprints, bodies, dates, time zones.

Each item type converts both an Exchange item and a CRM record into the same *canonical*
form: a plain JSON-able dict of the synced fields, normalised (UTC ISO times, canonical
time-zone names, sorted lists where order means nothing). A side's fingerprint is the hash
of its canonical form; the mapping remembers both fingerprints of the last sync, so a
side changed when its fingerprint moved, and the canonical forms are the snapshots kept for
a manual conflict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from django.db import models
from django.db.models import Q
from exchangelib import UTC, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

if TYPE_CHECKING:
    from exchangelib.items import Item

    from mailboxes.models import ItemTypeSyncOptions, Mailbox

Canonical = dict[str, Any]

_TAG = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"<\s*(br|/p|/div|/li|/tr)\b[^>]*>", re.IGNORECASE)
_STYLE = re.compile(r"<(style|script|head)\b.*?</\1>", re.IGNORECASE | re.DOTALL)


def fingerprint(canonical: Canonical | None) -> str:
    if canonical is None:
        return ""
    data = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def body_text(body: object) -> str:
    """An Exchange body as plain text: HTML bodies lose their markup."""
    if not body:
        return ""
    text = str(body)
    if type(body).__name__ == "HTMLBody" or text.lstrip().lower().startswith("<html"):
        text = _STYLE.sub("", text)
        text = _BLOCK.sub("\n", text)
        text = html.unescape(_TAG.sub("", text))
    return normalise_text(text)


def normalise_text(text: str | None) -> str:
    if not text:
        return ""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip()


def plain_datetime(value: dt.datetime) -> dt.datetime:
    """A stdlib datetime from an EWSDateTime (which refuses stdlib time zones)."""
    if type(value) is dt.datetime:
        return value
    return dt.datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo,
    )


def utc_iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    value = plain_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def date_iso(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = plain_datetime(value)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date().isoformat()
    return dt.date(value.year, value.month, value.day).isoformat()


def parse_utc(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


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


def canonical_tz(tz_name: str | None) -> str:
    """One name per Exchange time zone, so a round trip through Windows ids is stable."""
    if not tz_name or tz_name in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return "UTC" if tz_name else ""
    ms = IANA_TO_MS_TIMEZONE_MAP.get(tz_name)
    if ms is None:
        return tz_name
    return str(MS_TIMEZONE_TO_IANA_MAP.get(ms, tz_name))


def tz_name_of(tz: object) -> str:
    key = getattr(tz, "key", None)
    return canonical_tz(str(key)) if key else ""


def categories(values: Sequence[str] | None) -> list[str]:
    return sorted({v for v in (values or []) if v})


class TypePolicy:
    """What differs between item types beyond their fields, with the defaults of a plain one
    (a task): the engine asks the converter instead of testing the record's type."""

    # Series with exceptions (child records), parties (attendees), an iCalendar UID kept on
    # the record, contacts linked to their company's account.
    has_series: ClassVar[bool] = False
    has_parties: ClassVar[bool] = False
    keeps_ical_uid: ClassVar[bool] = False
    links_accounts: ClassVar[bool] = False

    def parties(self, canonical: Canonical) -> list[dict[str, str]]:
        """The parties (attendees) of the canonical form: none for a plain type."""
        return []

    def adopt_ical_uid(self, record: Any, item: Any) -> None:
        """Keep the Exchange item's iCalendar UID on a new record, for types that have one."""

    def imports(self, canonical: Canonical, options: ItemTypeSyncOptions) -> bool:
        """Whether a new Exchange item is brought into the CRM under these options."""
        return True

    def exports(self, record: Any, options: ItemTypeSyncOptions) -> bool:
        """Whether a CRM record is written to Exchange under these options."""
        return True

    def candidates_q(self, items: Sequence[Any], canonicals: dict[str, Canonical]) -> Q:
        """Unmapped CRM records that may be these unmapped Exchange items (by subject)."""
        return Q(subject__in={canonicals[item.id]["subject"] for item in items})


class RecordConverter(Protocol):
    """One item type: how it is fetched, compared and written on both sides."""

    item_type: ClassVar[str]
    model: ClassVar[type[models.Model]]
    distinguished_folder: ClassVar[str]
    ews_fields: ClassVar[tuple[str, ...]]
    update_fields: ClassVar[tuple[str, ...]]
    record_fields: ClassVar[tuple[str, ...]]

    def item_canonical(self, item: Item) -> Canonical: ...

    def record_canonical(self, record: Any) -> Canonical: ...

    def apply(self, record: Any, canonical: Canonical, mailbox: Mailbox) -> None: ...

    def build_item(
        self, canonical: Canonical, *, stamp_categories: Sequence[str], folder: Any
    ) -> Item: ...

    def identity(self, canonical: Canonical) -> str: ...
