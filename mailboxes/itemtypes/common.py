"""What the item types share: fingerprints, text and date normalisation, and `TypePolicy`.

Each item type turns a CRM record into its *canonical* form (`Canonical`, defined at the
connector seam): a plain JSON-able dict of the synced fields, normalised (UTC ISO times,
canonical time-zone names, sorted lists where order means nothing). A connector turns a
server's item into the same form (`mailboxes/connectors/ews/converters/` for EWS). A side's
fingerprint is the hash of its canonical form; the mapping remembers both fingerprints of
the last sync, so a side changed when its fingerprint moved, and the canonical forms are the
snapshots kept for a manual conflict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from django.db.models import Q, QuerySet

from activities.models import OwnedRecord
from mailboxes.connectors.base import Canonical, RemoteItem
from mailboxes.connectors.timezones import canonical_tz

if TYPE_CHECKING:
    from mailboxes.models import ItemTypeSyncOptions, Mailbox

R = TypeVar("R", bound=OwnedRecord)

_TAG = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"<\s*(br|/p|/div|/li|/tr)\b[^>]*>", re.IGNORECASE)
_STYLE = re.compile(r"<(style|script|head)\b.*?</\1>", re.IGNORECASE | re.DOTALL)


def fingerprint(canonical: Canonical | None) -> str:
    if canonical is None:
        return ""
    data = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def body_text(body: object, *, is_html: bool = False) -> str:
    """A server's body as plain text: HTML bodies (`is_html`, exchangelib's `HTMLBody`, or
    text that starts as an HTML document) lose their markup."""
    if not body:
        return ""
    text = str(body)
    if is_html or type(body).__name__ == "HTMLBody" or text.lstrip().lower().startswith("<html"):
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
    """A stdlib datetime from a datetime subclass (exchangelib's refuses stdlib zones)."""
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


def categories(values: Sequence[str] | None) -> list[str]:
    return sorted({v for v in (values or []) if v})


class TypePolicy(Generic[R]):
    """One item type on the CRM side: its record ⇄ canonical form, how records are matched,
    and what differs between types beyond fields, with the defaults of a plain type (a
    task). The engine asks the type instead of testing the record's class."""

    item_type: ClassVar[str]
    model: type[R]
    # The type's default folder, by the well-known name every connector maps.
    default_folder: ClassVar[str]
    # The record's columns the canonical form is written to.
    record_fields: ClassVar[tuple[str, ...]]
    # Series with exceptions (child records), parties (attendees), an iCalendar UID kept on
    # the record, contacts linked to their company's account, pulled from the folders below
    # the default folder too (or from folders the mailbox's options select).
    has_series: ClassVar[bool] = False
    has_parties: ClassVar[bool] = False
    keeps_ical_uid: ClassVar[bool] = False
    links_accounts: ClassVar[bool] = False
    has_subfolders: ClassVar[bool] = False
    # The record's fields `exports` reads (none: it exports every record).
    export_reads: ClassVar[tuple[str, ...]] = ()

    def record_canonical(
        self,
        record: R,
        *,
        parties: Sequence[Any] | None = None,
        exceptions: Sequence[Any] | None = None,
    ) -> Canonical:
        """The record's canonical form; `parties` and `exceptions` when the caller has them
        at hand (just written), else a type that has them reads the record's relations."""
        raise NotImplementedError

    def apply(self, record: R, canonical: Canonical, mailbox: Mailbox) -> None:
        """Set the record's own fields from a canonical form (parties and occurrences are
        the engine's job), marking the change as the sync's."""
        raise NotImplementedError

    def identity(self, canonical: Canonical) -> str:
        """What makes two canonical forms the same thing when no id links them."""
        raise NotImplementedError

    def parties(self, canonical: Canonical) -> list[dict[str, str]]:
        """The parties (attendees) of the canonical form: none for a plain type."""
        return []

    def adopt_ical_uid(self, record: R, ical_uid: str) -> None:
        """Keep the server item's iCalendar UID on a new record, for types that have one."""

    def imports(self, canonical: Canonical, options: ItemTypeSyncOptions) -> bool:
        """Whether a new server item is brought into the CRM under these options."""
        return True

    def exports(self, record: R, options: ItemTypeSyncOptions) -> bool:
        """Whether a CRM record is written to the server under these options."""
        return True

    def candidates_q(self, items: Sequence[RemoteItem]) -> Q:
        """Unmapped CRM records that may be these unmapped server items (by subject)."""
        return Q(subject__in={item.canonical["subject"] for item in items})

    def subject(self, canonical: Canonical) -> str:
        """A short name of the item, for lists and logs."""
        return str(canonical.get("subject") or "")[:500]

    def ical_uid_of(self, record: R) -> str:
        """The record's iCalendar UID ("" for types without one)."""
        return ""

    def ensure_ical_uid(self, record: R) -> str:
        """The record's iCalendar UID, given one of our own first if it has none (so a retry
        after a crash finds the item it created); "" for types without one."""
        return ""

    def own_records(self, records: QuerySet[R]) -> QuerySet[R]:
        """The records the sync maps to items (a series' exceptions are not: they travel
        inside their series), with what `record_canonical` reads prefetched."""
        return records

    def masters_of_changed_children(self, children: Q) -> QuerySet[Any] | None:
        """Ids of the series whose children (exceptions) match `children` (changed since the
        last push): pushed again with them. None for types without series."""
        return None

    def children(
        self, master: R, canonical: Canonical, *, owner: dict[str, int | None], mailbox: Mailbox
    ) -> list[R]:
        """The child records (unsaved) a series' canonical form describes: its modified and
        cancelled occurrences. None for types without series."""
        return []

    def delete_children(self, master_ids: Sequence[int]) -> None:
        """Delete the child records of these series."""

    def invitees(self, canonical: Canonical, own_address: str) -> set[str]:
        """The attendees (lower-case addresses) of a meeting this mailbox organizes (no
        organizer, or the mailbox's own address); none for anything else."""
        return set()

    def link_related(self, records: Sequence[R]) -> None:
        """Link new or changed records to related records (contacts to their company's
        account), before they are written."""


__all__ = [
    "Canonical",
    "R",
    "TypePolicy",
    "body_text",
    "canonical_tz",
    "categories",
    "date_iso",
    "fingerprint",
    "midnight_utc",
    "normalise_text",
    "parse_date",
    "parse_utc",
    "plain_datetime",
    "utc_iso",
]
