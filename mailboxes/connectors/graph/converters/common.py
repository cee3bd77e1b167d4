"""What the Graph converters share: Graph's dateTimeTimeZone, bodies, time-zone names, and the
CRM record id stamp as a Graph extended property.

Every converter turns Graph JSON into the SAME canonical form the EWS converters produce
(`mailboxes/connectors/ews/converters/`), so a mapping's fingerprints do not depend on the
protocol that read the item, and turns a canonical form into the JSON body Graph creates or
updates the item from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from mailboxes.connectors.stamp import PROPERTY_NAME, PROPERTY_SET_ID
from mailboxes.connectors.timezones import canonical_tz, iana_name, windows_name
from mailboxes.itemtypes.common import body_text

Json = dict[str, Any]

# The stamp (`connectors/stamp.py`: a String named property of crmsync's property set)
# in Graph's notation, so that EWS and Graph read and write the same property.
STAMP_ID = f"String {{{PROPERTY_SET_ID}}} Name {PROPERTY_NAME}"
STAMP_EXPAND = f"singleValueExtendedProperties($filter=id eq '{STAMP_ID}')"


def stamp_of(resource: Json) -> int | None:
    """The CRM record id a Graph item carries (expanded with `STAMP_EXPAND`), if any."""
    for prop in resource.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() != STAMP_ID.lower():
            continue
        value = prop.get("value")
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def stamp_property(record_id: int) -> Json:
    """The extended property to send with an item to stamp it with its record id."""
    return {"id": STAMP_ID, "value": str(record_id)}


def iana_zone(name: str | None) -> str:
    """A Graph time-zone name (Windows, IANA or UTC) as the canonical IANA name."""
    if not name:
        return ""
    if name.upper() in ("UTC", "ETC/UTC", "GMT", "Z"):
        return "UTC"
    return canonical_tz(iana_name(name) or name)


def windows_zone(iana: str) -> str:
    """The Windows name Graph expects for a canonical IANA zone name ("UTC" for none)."""
    if not iana or iana == "UTC":
        return "UTC"
    return windows_name(iana) or "UTC"


def zone_info(iana: str) -> dt.tzinfo:
    try:
        return ZoneInfo(iana) if iana and iana != "UTC" else dt.UTC
    except (KeyError, ValueError):
        return dt.UTC


def parse_date_time(value: Json | None) -> dt.datetime | None:
    """A Graph dateTimeTimeZone ({"dateTime", "timeZone"}) as an aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    text = str(value["dateTime"]).rstrip("Z")
    if "." in text:  # Graph gives seven fraction digits; Python reads six
        head, fraction = text.split(".", 1)
        text = f"{head}.{fraction[:6]}"
    naive = dt.datetime.fromisoformat(text)
    return naive.replace(tzinfo=zone_info(iana_zone(str(value.get("timeZone") or "UTC"))))


def parse_offset(value: str | None) -> dt.datetime | None:
    """A Graph DateTimeOffset ("2026-12-01T10:00:00Z") as an aware datetime."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def date_time(value: dt.datetime, iana: str = "UTC") -> Json:
    """An aware datetime as a Graph dateTimeTimeZone in `iana` (sent under its Windows name)."""
    local = value.astimezone(zone_info(iana)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": windows_zone(iana)}


def body_of(resource: Json, key: str = "body") -> str:
    """A Graph itemBody as the canonical plain text (HTML loses its markup)."""
    body = resource.get(key) or {}
    content = str(body.get("content") or "")
    return body_text(content, is_html=str(body.get("contentType", "text")).lower() == "html")


def text_body(text: str) -> Json:
    return {"contentType": "text", "content": text}
