"""Graph calendar: events, calendarView (and its delta), instances, meeting responses.

References: https://learn.microsoft.com/graph/api/resources/event,
.../api/user-list-calendarview, .../api/event-delta, .../api/event-list-instances,
.../api/event-accept, .../api/event-decline, .../api/event-tentativelyaccept,
.../outlook-calendar-timezones (Prefer: outlook.timezone).

Series expansion is the EWS emulator's own (`recurrence.py`): unmodified occurrences carry
occurrence ids, exceptions are stored items. calendarView/delta compares the window's
instances with a snapshot kept in the database under the delta token.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import secrets
import threading
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from .. import recurrence as rec
from ..control_api import field_elements
from ..operations.base import Ctx
from ..operations.calendar import send_invitations
from ..soap import Element, fmt_dt, parse_dt, t
from ..store import Folder, ItemRow
from . import ids
from . import mapping as mp
from .api import Request, Response, route
from .errors import GraphError, bad_request
from .mail import SYNC_GONE, delete_row, ews, item_row, list_page, one, write_fields

CALENDARS = ("Calendars.ReadWrite",)
TNS = mp.TNS
# `events?$filter=type eq 'seriesMaster'`, as a client lists a calendar's series.
SERIES_ONLY = re.compile(r"\s*type\s+eq\s+'seriesMaster'\s*")
TIMEZONE_PREFER = re.compile(r'outlook\.timezone\s*=\s*"([^"]+)"', re.IGNORECASE)
EVENT_TYPES = {
    "Single": "singleInstance",
    "Occurrence": "occurrence",
    "Exception": "exception",
    "RecurringMaster": "seriesMaster",
}
RESPONSES = {
    "Unknown": "none",
    "Organizer": "organizer",
    "Tentative": "tentativelyAccepted",
    "Accept": "accepted",
    "Decline": "declined",
    "NoResponseReceived": "notResponded",
}
SHOW_AS = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "oof",
    "WorkingElsewhere": "workingElsewhere",
    "NoData": "unknown",
}
DAY_SETS = {
    "Day": ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"],
    "Weekday": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "WeekendDay": ["sunday", "saturday"],
}
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
INDEXES = {
    "First": "first",
    "Second": "second",
    "Third": "third",
    "Fourth": "fourth",
    "Last": "last",
}
PATTERNS = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absoluteMonthly",
    "RelativeMonthlyRecurrence": "relativeMonthly",
    "AbsoluteYearlyRecurrence": "absoluteYearly",
    "RelativeYearlyRecurrence": "relativeYearly",
}
RANGE_TYPES = {
    "NoEndRecurrence": "noEnd",
    "EndDateRecurrence": "endDate",
    "NumberedRecurrence": "numbered",
}
STATE_LIFETIME = 7 * 24 * 3600
# Where the emulator keeps an event's transactionId (Exchange keeps it out of sight).
TRANSACTION_ID = "String {5f2c8a3e-9c1b-4f4e-8d2a-7e6b1c0d9a11} Name GraphTransactionId"
DELTA_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_delta_states(
    token TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created REAL NOT NULL
)
"""


# -- time zones --------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def zone(name: str) -> dt.tzinfo:
    """A Windows (`Pacific Standard Time`) or IANA (`America/Los_Angeles`) zone name."""
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return dt.UTC
    try:
        from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

        if name in MS_TIMEZONE_TO_IANA_MAP:
            return ZoneInfo(MS_TIMEZONE_TO_IANA_MAP[name])
    except ImportError:
        pass
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(f"The time zone '{name}' is not valid.", "ErrorTimeZone") from None


def windows_zone(name: str) -> str:
    """The Windows id EWS stores for a zone name (IANA names translated)."""
    try:
        from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP
    except ImportError:
        return name
    if name in MS_TIMEZONE_TO_IANA_MAP or name.upper() == "UTC":
        return "UTC" if name.upper() == "UTC" else name
    zone(name)
    return str(IANA_TO_MS_TIMEZONE_MAP.get(name, "UTC"))


def to_utc(value: str, tz_name: str) -> str:
    """A Graph dateTimeTimeZone as the UTC xs:dateTime EWS stores."""
    try:
        naive = dt.datetime.fromisoformat(value.rstrip("Z")[:26])
    except ValueError:
        raise bad_request(f"'{value}' is not a valid dateTime.") from None
    aware = naive if naive.tzinfo else naive.replace(tzinfo=zone(tz_name))
    return fmt_dt(aware)


def _out_zone(req: Request) -> tuple[str, dt.tzinfo]:
    match = TIMEZONE_PREFER.search(req.prefer)
    if match is None:
        return "UTC", dt.UTC
    name = match.group(1)
    tz = zone(name)
    applied = f'outlook.timezone="{name}"'
    if applied not in req.applied:  # once, however many events the answer holds
        req.applied.append(applied)
    return name, tz


def _date_time(value: str | None, name: str, tz: dt.tzinfo) -> dict[str, str] | None:
    moment = parse_dt(value)
    if moment is None:
        return None
    local = moment.astimezone(tz).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="microseconds") + "0", "timeZone": name}


# -- EWS -> Graph ---------------------------------------------------------------------------


def _recurrence_json(elem: Element | None, tz_name: str) -> dict[str, Any] | None:
    if elem is None:
        return None
    pattern: dict[str, Any] = {"type": "daily", "interval": 1}
    rng: dict[str, Any] = {"type": "noEnd", "recurrenceTimeZone": tz_name}
    for part in elem:
        name = etree.QName(part).localname
        if name in PATTERNS:
            pattern = {
                "type": PATTERNS[name],
                "interval": int(part.findtext(f"{TNS}Interval") or 1),
            }
            days = part.findtext(f"{TNS}DaysOfWeek")
            if days:
                # Graph's daysOfWeek lists days only (recurrencePattern: dayOfWeek values);
                # EWS's Day, Weekday and WeekendDay stand for sets of them.
                pattern["daysOfWeek"] = [
                    x for d in days.split() for x in DAY_SETS.get(d, [d.lower()])
                ]
            if part.findtext(f"{TNS}FirstDayOfWeek"):
                pattern["firstDayOfWeek"] = str(part.findtext(f"{TNS}FirstDayOfWeek")).lower()
            if part.findtext(f"{TNS}DayOfMonth"):
                pattern["dayOfMonth"] = int(part.findtext(f"{TNS}DayOfMonth") or 0)
            if part.findtext(f"{TNS}Month"):
                pattern["month"] = rec.MONTHS.index(str(part.findtext(f"{TNS}Month"))) + 1
            if part.findtext(f"{TNS}DayOfWeekIndex"):
                pattern["index"] = INDEXES.get(str(part.findtext(f"{TNS}DayOfWeekIndex")), "first")
        elif name in RANGE_TYPES:
            rng = {"type": RANGE_TYPES[name], "recurrenceTimeZone": tz_name}
            rng["startDate"] = (part.findtext(f"{TNS}StartDate") or "")[:10]
            if part.findtext(f"{TNS}EndDate"):
                rng["endDate"] = str(part.findtext(f"{TNS}EndDate"))[:10]
            if part.findtext(f"{TNS}NumberOfOccurrences"):
                rng["numberOfOccurrences"] = int(part.findtext(f"{TNS}NumberOfOccurrences") or 0)
    return {"pattern": pattern, "range": rng}


def _attendees(elem: Element) -> list[dict[str, Any]]:
    out = []
    for holder, kind in (
        ("RequiredAttendees", "required"),
        ("OptionalAttendees", "optional"),
        ("Resources", "resource"),
    ):
        found = elem.find(f"{TNS}{holder}")
        for att in found if found is not None else []:
            mb = att.find(f"{TNS}Mailbox")
            response = RESPONSES.get(att.findtext(f"{TNS}ResponseType") or "Unknown", "none")
            out.append(
                {
                    "type": kind,
                    "status": {
                        "response": response,
                        "time": att.findtext(f"{TNS}LastResponseTime") or "0001-01-01T00:00:00Z",
                    },
                    "emailAddress": {
                        "name": (mb.findtext(f"{TNS}Name") if mb is not None else "") or "",
                        "address": (mb.findtext(f"{TNS}EmailAddress") if mb is not None else "")
                        or "",
                    },
                }
            )
    return out


def has_attendees(elem: Element) -> bool:
    return any(
        len(found)
        for holder in ("RequiredAttendees", "OptionalAttendees", "Resources")
        if (found := elem.find(f"{TNS}{holder}")) is not None
    )


def attendee_addresses(elem: Element) -> set[str]:
    return {
        (a.findtext(f"{TNS}Mailbox/{TNS}EmailAddress") or "").lower()
        for a in elem.iter(f"{TNS}Attendee")
    } - {""}


def is_sent(elem: Element) -> bool:
    """Whether the organizer's meeting was sent to its attendees (EWS's
    MeetingRequestWasSent)."""
    return elem.findtext(f"{TNS}MeetingRequestWasSent") == "true"


def is_draft(elem: Element) -> bool:
    """Graph's isDraft: the organizer's meeting whose attendees were not sent it (an event
    without attendees, or an attendee's copy, is no draft)."""
    organizer = elem.findtext(f"{TNS}MyResponseType") in (None, "Organizer")
    return organizer and has_attendees(elem) and not is_sent(elem)


def event_json(
    req: Request, elem: Element, item_id: str, change_key: str, master_id: str | None
) -> dict[str, Any]:
    f = mp.fields_of(elem)
    tz_name, tz = _out_zone(req)

    def text(name: str) -> str | None:
        node = f.get(name)
        return node.text if node is not None else None

    start_zone = f.get("StartTimeZone")
    original_zone = start_zone.get("Id") if start_zone is not None else "UTC"
    organizer = f.get("Organizer")
    organizer_mb = organizer.find(f"{TNS}Mailbox") if organizer is not None else None
    categories = f.get("Categories")
    my_response = text("MyResponseType") or "Unknown"
    kind = EVENT_TYPES.get(text("CalendarItemType") or "Single", "singleInstance")
    preview = (text("TextBody") or "").strip()
    return {
        "@odata.etag": f'W/"{change_key}"',
        "id": item_id,
        "createdDateTime": text("DateTimeCreated"),
        "lastModifiedDateTime": text("LastModifiedTime"),
        "changeKey": change_key,
        "categories": [c.text or "" for c in categories] if categories is not None else [],
        "originalStartTimeZone": original_zone,
        "originalEndTimeZone": original_zone,
        "iCalUId": text("UID"),
        "reminderMinutesBeforeStart": int(text("ReminderMinutesBeforeStart") or 15),
        "isReminderOn": text("ReminderIsSet") == "true",
        "hasAttachments": text("HasAttachments") == "true",
        "subject": text("Subject") or "",
        "bodyPreview": preview[:255],
        "importance": (text("Importance") or "Normal").lower(),
        "sensitivity": (text("Sensitivity") or "Normal").lower(),
        "isAllDay": text("IsAllDayEvent") == "true",
        "isCancelled": text("IsCancelled") == "true",
        "isDraft": is_draft(elem),
        "isOrganizer": my_response == "Organizer",
        "responseRequested": text("IsResponseRequested") != "false",
        "seriesMasterId": master_id,
        # The start an occurrence or exception had in its series (UTC); not on singles.
        "originalStart": text("OriginalStart") if kind in ("occurrence", "exception") else None,
        "showAs": SHOW_AS.get(text("LegacyFreeBusyStatus") or "Busy", "busy"),
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={item_id}&exvsurl=1&path=/calendar/item",
        "responseStatus": {
            "response": RESPONSES.get(my_response, "none"),
            "time": "0001-01-01T00:00:00Z",
        },
        "body": mp.body_json(f.get("Body")),
        "start": _date_time(text("Start"), tz_name, tz),
        "end": _date_time(text("End"), tz_name, tz),
        "location": {"displayName": text("Location") or ""},
        "recurrence": _recurrence_json(f.get("Recurrence"), original_zone or "UTC")
        if kind == "seriesMaster"
        else None,
        "attendees": _attendees(elem),
        "organizer": {
            "emailAddress": {
                "name": (organizer_mb.findtext(f"{TNS}Name") if organizer_mb is not None else "")
                or "",
                "address": (
                    organizer_mb.findtext(f"{TNS}EmailAddress") if organizer_mb is not None else ""
                )
                or "",
            }
        },
    }


def row_event(req: Request, row: ItemRow) -> dict[str, Any]:
    return _row_event(req, row, mp.parse(row.xml))


def _row_event(req: Request, row: ItemRow, elem: Element) -> dict[str, Any]:
    master = req.item_id(row.master_id) if row.master_id else None
    return event_json(req, elem, req.item_id(row.id), row.change_key, master)


# -- Graph -> EWS ---------------------------------------------------------------------------


def _recurrence_xml(value: dict[str, Any]) -> str:
    pattern, rng = value.get("pattern") or {}, value.get("range") or {}
    kind = {v: k for k, v in PATTERNS.items()}.get(str(pattern.get("type")))
    range_kind = {v: k for k, v in RANGE_TYPES.items()}.get(str(rng.get("type")))
    if kind is None or range_kind is None or not rng.get("startDate"):
        raise bad_request("recurrence needs a known pattern type, range type and startDate.")
    parts = []
    if kind != "AbsoluteYearlyRecurrence" and kind != "RelativeYearlyRecurrence":
        parts.append(f"<t:Interval>{int(pattern.get('interval') or 1)}</t:Interval>")
    if kind in ("WeeklyRecurrence", "RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        days = [str(d).title() for d in pattern.get("daysOfWeek") or []]
        if not days or any(d.lower() not in WEEKDAYS for d in days):
            raise bad_request("daysOfWeek is required for this recurrence pattern.")
        if kind != "WeeklyRecurrence":
            # A relative pattern names one DayOfWeekType in EWS: a day, Day, Weekday or
            # WeekendDay.
            wanted = sorted(d.lower() for d in days)
            days = [next((k for k, v in DAY_SETS.items() if sorted(v) == wanted), days[0])]
        parts.append(f"<t:DaysOfWeek>{' '.join(days)}</t:DaysOfWeek>")
    if kind in ("RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        index = {v: k for k, v in INDEXES.items()}.get(
            str(pattern.get("index") or "first"), "First"
        )
        parts.append(f"<t:DayOfWeekIndex>{index}</t:DayOfWeekIndex>")
    if kind == "WeeklyRecurrence":
        first_day = str(pattern.get("firstDayOfWeek") or "sunday").title()
        parts.append(f"<t:FirstDayOfWeek>{first_day}</t:FirstDayOfWeek>")
    if kind in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
        parts.append(f"<t:DayOfMonth>{int(pattern.get('dayOfMonth') or 1)}</t:DayOfMonth>")
    if kind in ("AbsoluteYearlyRecurrence", "RelativeYearlyRecurrence"):
        month = int(pattern.get("month") or 1)
        parts.append(f"<t:Month>{rec.MONTHS[month - 1]}</t:Month>")
    ranges = [f"<t:StartDate>{rng['startDate']}</t:StartDate>"]
    if range_kind == "EndDateRecurrence":
        ranges.append(f"<t:EndDate>{rng.get('endDate')}</t:EndDate>")
    if range_kind == "NumberedRecurrence":
        count = int(rng.get("numberOfOccurrences") or 1)
        ranges.append(f"<t:NumberOfOccurrences>{count}</t:NumberOfOccurrences>")
    return (
        f"<t:Recurrence><t:{kind}>{''.join(parts)}</t:{kind}>"
        f"<t:{range_kind}>{''.join(ranges)}</t:{range_kind}></t:Recurrence>"
    )


def event_fields(payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(EWS field map, raw XML elements) of a Graph event."""
    fields: dict[str, Any] = {}
    xml: list[str] = []
    required: list[dict[str, str]] = []
    optional: list[dict[str, str]] = []
    resources: list[dict[str, str]] = []
    for key, value in payload.items():
        if key.startswith("@odata") or key in ("id", "changeKey", "type", "iCalUId"):
            continue
        if key == "transactionId":
            if value:
                xml.append(mp.ext_property_xml(TRANSACTION_ID, str(value)))
            continue
        if key == "subject":
            fields["Subject"] = str(value or "")
        elif key == "body":
            fields["Body"] = mp.body_field(value)
        elif key in ("start", "end"):
            if not isinstance(value, dict) or not value.get("dateTime"):
                raise bad_request(f"'{key}' must be a dateTimeTimeZone.")
            tz_name = str(value.get("timeZone") or "UTC")
            fields[key.title()] = to_utc(str(value["dateTime"]), tz_name)
            tag = "StartTimeZone" if key == "start" else "EndTimeZone"
            xml.append(f'<t:{tag} Id="{windows_zone(tz_name)}"/>')
        elif key == "isAllDay":
            fields["IsAllDayEvent"] = bool(value)
        elif key == "location":
            fields["Location"] = str((value or {}).get("displayName") or "")
        elif key == "showAs":
            reverse = {v.lower(): k for k, v in SHOW_AS.items()}
            fields["LegacyFreeBusyStatus"] = reverse.get(str(value).lower(), "Busy")
        elif key == "importance":
            fields["Importance"] = str(value).title()
        elif key == "sensitivity":
            fields["Sensitivity"] = str(value).title()
        elif key == "categories":
            fields["Categories"] = [str(c) for c in value or []]
        elif key == "isReminderOn":
            fields["ReminderIsSet"] = bool(value)
        elif key == "reminderMinutesBeforeStart":
            fields["ReminderMinutesBeforeStart"] = int(value)
        elif key == "responseRequested":
            fields["IsResponseRequested"] = bool(value)
        elif key == "attendees":
            for att in value or []:
                address = str(((att or {}).get("emailAddress") or {}).get("address") or "")
                if "@" not in address:
                    raise bad_request(
                        f"'{address}' is not a valid attendee address.", "ErrorInvalidRecipients"
                    )
                entry = {"email": address}
                if ((att or {}).get("emailAddress") or {}).get("name"):
                    entry["name"] = str(att["emailAddress"]["name"])
                kind = att.get("type")
                (
                    optional
                    if kind == "optional"
                    else resources
                    if kind == "resource"
                    else required
                ).append(entry)
            fields["RequiredAttendees"] = required
            fields["OptionalAttendees"] = optional
            fields["Resources"] = resources
        elif key == "recurrence":
            if value is not None:
                xml.append(_recurrence_xml(value))
        elif key == "singleValueExtendedProperties":
            xml += [mp.ext_property_xml(str(p["id"]), p.get("value", "")) for p in value or []]
        elif key in ("organizer", "originalStartTimeZone", "originalEndTimeZone"):
            continue
        else:
            raise bad_request(
                f"Could not find a property named '{key}' on type 'microsoft.graph.event'.",
                "RequestBodyRead",
            )
    return fields, xml


def _event_element(fields: dict[str, Any], xml: list[str]) -> Element:
    from ..soap import T_NS

    elem = etree.Element(t("CalendarItem"), nsmap={"t": T_NS})
    for f in field_elements(fields):
        elem.append(f)
    for x in xml:
        elem.append(etree.fromstring(f'<w xmlns:t="{T_NS}">{x}</w>')[0])
    return elem


# -- instances in a window -----------------------------------------------------------------


def _calendar(req: Request, given: str | None = None) -> Folder:
    folder = req.folder(given or "calendar")
    if folder.folder_class != "IPF.Appointment":
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return folder


def _window(req: Request) -> tuple[dt.datetime, dt.datetime]:
    start, end = req.query.get("startDateTime"), req.query.get("endDateTime")
    if not start or not end:
        raise bad_request(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
            "ErrorInvalidParameter",
        )
    begin, finish = parse_dt(start), parse_dt(end)
    if begin is None or finish is None:
        raise bad_request(
            "StartDateTime and EndDateTime must be ISO 8601 date-times.", "ErrorInvalidParameter"
        )
    return begin, finish


def _exceptions(req: Request, master: ItemRow) -> list[ItemRow]:
    """The stored exceptions of a series (kept outside any folder, under their master)."""
    rows = req.store.conn.execute("SELECT id FROM items WHERE master_id = ?", (master.id,))
    found = [req.store.item(r[0]) for r in rows.fetchall()]
    return [r for r in found if r is not None]


def instances(
    req: Request,
    folder: Folder,
    begin: dt.datetime,
    finish: dt.datetime,
    master: ItemRow | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, version, event JSON) of every instance overlapping the window, by start:
    single events, unmodified occurrences and exceptions (not series masters)."""
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    rows = [master] if master is not None else req.store.items_in_folder(folder.id)
    for row in rows:
        if row.kind != "CalendarItem":
            continue
        elem = mp.parse(row.xml)
        candidates = [row]
        if elem.findtext(f"{TNS}CalendarItemType") == "RecurringMaster":
            master_graph_id = req.item_id(row.id)
            for index, start, end in rec.window_occurrences(elem, begin, finish):
                occ = rec.occurrence_element(elem, index, start, end)
                occ_id = ids.rest_id(rec.occurrence_id(row.id, index))
                event = event_json(req, occ, occ_id, row.change_key, master_graph_id)
                out.append((fmt_dt(start), occ_id, f"{row.seq}", event))
            candidates = _exceptions(req, row)
        for single in candidates:
            single_elem = elem if single is row else mp.parse(single.xml)
            first = parse_dt(single_elem.findtext(f"{TNS}Start"))
            last = parse_dt(single_elem.findtext(f"{TNS}End"))
            if first is None or last is None or not (first < finish and last > begin):
                continue
            event = _row_event(req, single, single_elem)
            out.append((fmt_dt(first), event["id"], f"{single.seq}", event))
    out.sort(key=lambda x: x[0])
    return [(i, v, e) for _, i, v, e in out]


@route("GET", "calendarView", roles=CALENDARS)
def calendar_view(req: Request, args: list[str]) -> Response:
    begin, finish = _window(req)
    found = instances(req, _calendar(req), begin, finish)
    top = min(int(req.query.get("$top") or 10), 1000)
    skip = int(req.query.get("$skip") or 0)
    payload: dict[str, Any] = {
        "value": [mp.select(e, req.select()) for _, _, e in found[skip : skip + top]]
    }
    if skip + top < len(found):
        payload["@odata.nextLink"] = (
            f"{req.user_url()}/calendarView?startDateTime={req.query['startDateTime']}"
            f"&endDateTime={req.query['endDateTime']}&$top={top}&$skip={skip + top}"
        )
    return Response(200, payload)


@route("GET", "events", "*", "instances", roles=CALENDARS)
def event_instances(req: Request, args: list[str]) -> Response:
    begin, finish = _window(req)
    master = item_row(req, args[0], ("CalendarItem",))
    return Response(
        200, {"value": [e for _, _, e in instances(req, _calendar(req), begin, finish, master)]}
    )


# -- calendarView/delta: snapshots kept under their token ------------------------------------


def _save_state(req: Request, state: dict[str, Any], keep: str | None = None) -> str:
    """A new token for `state`; `keep`: the round's token it refers to, which lives as
    long as the newest token referring to it."""
    import time

    token = secrets.token_urlsafe(24)
    now = time.time()
    with req.store.write() as c:
        c.execute(DELTA_SCHEMA)
        c.execute(
            "INSERT INTO graph_delta_states(token, state, created) VALUES(?,?,?)",
            (token, json.dumps(state), now),
        )
        if keep is not None:
            c.execute("UPDATE graph_delta_states SET created = ? WHERE token = ?", (now, keep))
        # Tokens older than a week are forgotten (410 SyncStateNotFound), as Graph's expire.
        c.execute("DELETE FROM graph_delta_states WHERE created < ?", (now - STATE_LIFETIME,))
    return token


def _load_state(req: Request, token: str) -> dict[str, Any]:
    with req.store.write() as c:
        c.execute(DELTA_SCHEMA)
        row = c.execute("SELECT state FROM graph_delta_states WHERE token = ?", (token,)).fetchone()
    if row is None:
        raise GraphError(410, "SyncStateNotFound", SYNC_GONE)
    return dict(json.loads(row[0]))


# A round (the pages from a delta link, or from no token, to the next delta link) keeps its
# snapshot and the ids it returns once, under a token of its own; its pages' tokens hold
# that token and an offset, so that a page does not read or write the whole snapshot. The
# rounds read last stay decoded here (their rows are never changed).
_ROUNDS: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
_ROUNDS_KEPT = 8


def _load_round(req: Request, token: str) -> dict[str, Any]:
    key = (req.store.path, token)
    with _WINDOWS_LOCK:
        found = _ROUNDS.get(key)
        if found is not None:
            _ROUNDS.move_to_end(key)
            return found
    found = _load_state(req, token)
    _keep_round(req, token, found)
    return found


def _keep_round(req: Request, token: str, state: dict[str, Any]) -> None:
    with _WINDOWS_LOCK:
        _ROUNDS[(req.store.path, token)] = state
        while len(_ROUNDS) > _ROUNDS_KEPT:
            _ROUNDS.popitem(last=False)


# A round of calendarView/delta pages reads the same window of an unchanged folder on every
# page: its instances are kept, for a few windows, under what they derive from (the
# mailbox's change sequence moves with every change to an item, exceptions included, and
# to a folder), so that a page costs its own events, not the whole window's expansion.
_WINDOWS: OrderedDict[tuple[Any, ...], dict[str, tuple[str, dict[str, Any]]]] = OrderedDict()
_WINDOWS_KEPT = 4
_WINDOWS_LOCK = threading.Lock()


def _window_instances(
    req: Request, folder: Folder, begin: dt.datetime, finish: dt.datetime
) -> dict[str, tuple[str, dict[str, Any]]]:
    """id -> (version, event JSON) of the window's instances, by start (`instances`)."""
    zone_prefer = TIMEZONE_PREFER.search(req.prefer)
    seq = req.store.current_seq(folder.mailbox_id)
    key = (
        req.store.path,
        folder.id,
        seq,
        begin,
        finish,
        req.immutable,
        zone_prefer.group(1) if zone_prefer else None,
        req.base,
        req.user.smtp,
    )
    with _WINDOWS_LOCK:
        found = _WINDOWS.get(key)
        if found is not None:
            _WINDOWS.move_to_end(key)
    if found is not None:
        if found:
            _out_zone(req)  # the Preference-Applied header the events' rendering gives
        return found
    found = {i: (v, e) for i, v, e in instances(req, folder, begin, finish)}
    if req.store.current_seq(folder.mailbox_id) == seq:  # nothing changed meanwhile
        with _WINDOWS_LOCK:
            _WINDOWS[key] = found
            while len(_WINDOWS) > _WINDOWS_KEPT:
                _WINDOWS.popitem(last=False)
    return found


@route("GET", "calendarView", "delta", roles=CALENDARS)
def calendar_view_delta(req: Request, args: list[str]) -> Response:
    if "$expand" in req.query:
        # event: delta takes $select and the window only; Graph refuses $expand there.
        raise bad_request("The query option '$expand' is not supported on event delta.")
    token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
    round_token: str | None = None
    at = 0
    if token:
        state = _load_state(req, token)
        if "round" in state:  # a page of a round, or the round's delta link ("at" absent)
            round_token, at = str(state["round"]), int(state.get("at", 0))
            whole = _load_round(req, round_token)
            state = {
                "window": whole["window"],
                "seen": whole["seen"],
                "pending": whole["pending"] if "at" in state else None,
            }
    else:
        window_start, window_end = _window(req)
        state = {
            "window": [fmt_dt(window_start), fmt_dt(window_end)],
            "seen": {},
            "pending": None,
        }
    begin, finish = parse_dt(state["window"][0]), parse_dt(state["window"][1])
    assert begin is not None and finish is not None
    current = _window_instances(req, _calendar(req), begin, finish)
    seen: dict[str, str] = state["seen"]
    pending: list[str] | None = state.get("pending")
    if pending is None:  # a new round: what changed since the snapshot
        pending = [i for i, (v, _) in current.items() if seen.get(i) != v]
        pending += [i for i in seen if i not in current]
        seen = {i: v for i, (v, _) in current.items()}
        whole = {"window": state["window"], "seen": seen, "pending": pending}
        round_token, at = _save_state(req, whole), 0
        _keep_round(req, round_token, whole)
    assert round_token is not None
    size = req.page_size(10)
    page, more = pending[at : at + size], at + size < len(pending)
    value = []
    for event_id in page:
        if event_id in current:
            event = dict(current[event_id][1])
            event["@odata.type"] = "#microsoft.graph.event"
            value.append(event)
        else:
            value.append(
                {
                    "@odata.type": "#microsoft.graph.event",
                    "id": event_id,
                    "@removed": {"reason": "deleted"},
                }
            )
    link = f"{req.user_url()}/calendarView/delta"
    payload: dict[str, Any] = {"value": value}
    if more:
        next_token = _save_state(
            req, {"window": state["window"], "round": round_token, "at": at + size}, round_token
        )
        payload["@odata.nextLink"] = f"{link}?$skiptoken={next_token}"
    else:
        next_token = _save_state(
            req, {"window": state["window"], "round": round_token}, round_token
        )
        payload["@odata.deltaLink"] = f"{link}?$deltatoken={next_token}"
    return Response(200, payload)


# -- events CRUD ------------------------------------------------------------------------------


def _event_row(req: Request, given: str) -> ItemRow:
    return item_row(req, given, ("CalendarItem",))


@route("GET", "events", roles=CALENDARS)
def list_events(req: Request, args: list[str]) -> Response:
    folder = _calendar(req)
    rows = [
        r
        for r in req.store.items_in_folder(folder.id)
        if r.kind == "CalendarItem" and not r.master_id
    ]
    if SERIES_ONLY.fullmatch(req.query.get("$filter") or ""):
        # Only a stored RecurringMaster renders as a seriesMaster: the other events are not
        # rendered to be filtered out (the filter still decides on those left).
        rows = [r for r in rows if b"RecurringMaster" in r.xml]
    return list_page(req, rows, lambda r: row_event(req, r), "events")


@route("GET", "events", "*", roles=CALENDARS)
def get_event(req: Request, args: list[str]) -> Response:
    occurrence = rec.parse_occurrence_id(ids.ews_id(args[0]))
    if occurrence is not None and req.store.item(ids.ews_id(args[0])) is None:
        master_row = _event_row(req, ids.rest_id(occurrence[0]))
        master = mp.parse(master_row.xml)
        times = rec.occurrence_by_index(master, occurrence[1])
        if times is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        occ = rec.occurrence_element(master, occurrence[1], *times)
        event = event_json(req, occ, args[0], master_row.change_key, req.item_id(master_row.id))
        return Response(200, mp.select(event, req.select()))
    row = _event_row(req, args[0])
    return Response(200, one(req, row, row_event(req, row)))


@route("POST", "events", roles=CALENDARS)
def create_event(req: Request, args: list[str]) -> Response:
    return _create_event(req, _calendar(req))


@route("POST", "calendar", "events", roles=CALENDARS)
def create_calendar_event(req: Request, args: list[str]) -> Response:
    return _create_event(req, _calendar(req))


def _create_event(req: Request, folder: Folder) -> Response:
    payload = req.json()
    if payload.get("transactionId"):
        # A retried POST with the same transactionId answers the event made the first time
        # (https://learn.microsoft.com/graph/api/resources/event: transactionId).
        wanted = {"id": TRANSACTION_ID, "value": str(payload["transactionId"])}
        for row in req.store.items_in_folder(folder.id):
            if row.kind == "CalendarItem" and wanted in mp.extended_properties(mp.parse(row.xml)):
                return Response(201, row_event(req, row))
    draft = _draft_flag(payload)
    fields, xml = event_fields(payload)
    if "Start" not in fields or "End" not in fields:
        raise bad_request("An event needs a start and an end.", "ErrorInvalidRequest")
    elem = _event_element(fields, xml)
    # A meeting is sent to its attendees when it is created, unless it is created as a
    # draft (isDraft), which sends nothing until a PATCH sets isDraft to false.
    invites = "SendToAllAndSaveCopy" if has_attendees(elem) and not draft else "SendToNone"
    result = ews(
        req,
        "CreateItem",
        f'<m:SavedItemFolderId><t:FolderId Id="{folder.id}"/></m:SavedItemFolderId>'
        f"<m:Items>{etree.tostring(elem).decode()}</m:Items>",
        SendMeetingInvitations=invites,
    )
    new_id = next((e.get("Id") for e in result.iter(t("ItemId"))), None)
    row = req.store.item(new_id or "")
    if row is None:
        raise GraphError(500, "InternalServerError", "The event was not stored.")
    return Response(201, row_event(req, row))


UPDATE_URIS = {
    "Subject": "item:Subject",
    "Body": "item:Body",
    "Categories": "item:Categories",
    "Importance": "item:Importance",
    "Sensitivity": "item:Sensitivity",
    "ReminderIsSet": "item:ReminderIsSet",
    "ReminderMinutesBeforeStart": "item:ReminderMinutesBeforeStart",
    "Start": "calendar:Start",
    "End": "calendar:End",
    "IsAllDayEvent": "calendar:IsAllDayEvent",
    "Location": "calendar:Location",
    "LegacyFreeBusyStatus": "calendar:LegacyFreeBusyStatus",
    "RequiredAttendees": "calendar:RequiredAttendees",
    "OptionalAttendees": "calendar:OptionalAttendees",
    "Resources": "calendar:Resources",
    "IsResponseRequested": "calendar:IsResponseRequested",
    "Recurrence": "calendar:Recurrence",
    "StartTimeZone": "calendar:StartTimeZone",
    "EndTimeZone": "calendar:EndTimeZone",
}


def _draft_flag(payload: dict[str, Any]) -> bool | None:
    """The request's isDraft (taken out of it), None when absent."""
    value = payload.pop("isDraft", None)
    if value is not None and not isinstance(value, bool):
        raise bad_request("'isDraft' must be a Boolean.", "RequestBodyRead")
    return value


# What only the organizer's copy holds: a PATCH of these alone tells the attendees nothing.
ORGANIZER_ONLY = frozenset(
    {
        "categories",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "singleValueExtendedProperties",
        "multiValueExtendedProperties",
        "transactionId",
    }
)


def _meeting_messages(before: Element, payload: dict[str, Any], send: bool | None) -> str:
    """Whom a PATCH of the organizer's event writes to (event-update, "attendees property
    and meeting updates"): a draft (isDraft) sends nothing ("none") until isDraft turns
    false, which sends it to every attendee ("all"); any other event (a meeting sent, an
    appointment given attendees) writes to every attendee ("all"), or, when the request
    changes only the attendees, to those added ("added")."""
    if before.findtext(f"{TNS}MyResponseType") not in (None, "Organizer"):
        return "none"
    if not set(payload) - ORGANIZER_ONLY:
        return "all" if send is False and is_draft(before) else "none"
    if is_draft(before):
        return "all" if send is False else "none"
    return "added" if set(payload) == {"attendees"} else "all"


def _send(req: Request, row: ItemRow, *, update: bool, only: set[str] | None = None) -> None:
    """Meeting requests (updates) from the organizer's `row` to its attendees (`only`: to
    these addresses), delivered to the emulator's mailboxes as EWS delivers them."""
    ctx = Ctx(
        store=req.store, mail=req.server.mail, auth=req.user, target=req.user, version="Graph"
    )
    with req.store.write() as c:
        send_invitations(ctx, c, row, update=update, only=only)


@route("PATCH", "events", "*", roles=CALENDARS)
def update_event(req: Request, args: list[str]) -> Response:
    """Through EWS UpdateItem, so that patching an occurrence makes an exception."""
    ews_id = ids.resolve_item_id(req.store, args[0])
    stored = req.store.item(ews_id)
    occurrence = rec.parse_occurrence_id(ews_id)
    owner = stored
    if stored is None and occurrence is not None:
        owner = req.store.item(occurrence[0])
    elif stored is not None and stored.master_id:
        owner = req.store.item(stored.master_id)
    if owner is None or owner.mailbox_id != req.user.id:
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    payload = req.json()
    send = _draft_flag(payload)
    before = mp.parse(owner.xml)
    mode = _meeting_messages(before, payload, send)
    fields, xml = event_fields(payload)
    changes = []
    for elem in field_elements(fields) + [
        etree.fromstring(f'<w xmlns:t="{mp.T_NS}">{x}</w>')[0] for x in xml
    ]:
        name = etree.QName(elem).localname
        value = etree.tostring(elem).decode()
        if name == "ExtendedProperty":
            uri = etree.tostring(elem.find(f"{TNS}ExtendedFieldURI")).decode()
            changes.append(
                f"<t:SetItemField>{uri}<t:CalendarItem>{value}</t:CalendarItem></t:SetItemField>"
            )
        else:
            field_uri = UPDATE_URIS.get(name, f"calendar:{name}")
            changes.append(
                f'<t:SetItemField><t:FieldURI FieldURI="{field_uri}"/>'
                f"<t:CalendarItem>{value}</t:CalendarItem></t:SetItemField>"
            )
    result = ews(
        req,
        "UpdateItem",
        f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{ews_id}"/>'
        f"<t:Updates>{''.join(changes)}</t:Updates></t:ItemChange></m:ItemChanges>",
        ConflictResolution="AlwaysOverwrite",
        SendMeetingInvitationsOrCancellations="SendToNone",
    )
    fresh = req.store.item(owner.id)
    if fresh is not None and mode != "none" and has_attendees(mp.parse(fresh.xml)):
        added = attendee_addresses(mp.parse(fresh.xml)) - attendee_addresses(before)
        _send(req, fresh, update=is_sent(before), only=added if mode == "added" else None)
    new_id = next((e.get("Id") for e in result.iter(t("ItemId"))), ews_id)
    row = req.store.item(new_id or ews_id) or req.store.item(ews_id)
    if row is None:
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return Response(200, row_event(req, row))


@route("DELETE", "events", "*", roles=CALENDARS)
def delete_event(req: Request, args: list[str]) -> Response:
    ews_id = ids.resolve_item_id(req.store, args[0])
    occurrence = rec.parse_occurrence_id(ews_id)
    stored = req.store.item(ews_id)
    owner = stored or (req.store.item(occurrence[0]) if occurrence else None)
    if owner is None or owner.mailbox_id != req.user.id:
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    ews(
        req,
        "DeleteItem",
        f'<m:ItemIds><t:ItemId Id="{ews_id}"/></m:ItemIds>',
        DeleteType="MoveToDeletedItems",
        SendMeetingCancellations=_cancellations(owner),
    )
    return Response(204)


def _cancellations(row: ItemRow) -> str:
    """Deleting the organizer's meeting cancels it for its attendees (event-delete), once
    it was sent to them: a draft (isDraft) reached nobody."""
    elem = mp.parse(row.xml)
    organizer = elem.findtext(f"{TNS}MyResponseType") in (None, "Organizer")
    return "SendToAllAndSaveCopy" if organizer and is_sent(elem) else "SendToNone"


@route("POST", "events", "*", "permanentDelete", roles=CALENDARS)
def permanently_delete_event(req: Request, args: list[str]) -> Response:
    """https://learn.microsoft.com/graph/api/event-permanentdelete: to the Purges folder;
    a sent meeting is cancelled as by any delete on the organizer's calendar."""
    row = _event_row(req, args[0])
    return delete_row(req, row, "HardDelete", SendMeetingCancellations=_cancellations(row))


@route("POST", "events", "*", "cancel", roles=CALENDARS)
def cancel_event(req: Request, args: list[str]) -> Response:
    """https://learn.microsoft.com/graph/api/event-cancel: the organizer only; the
    attendees are sent a cancellation, the event goes to Deleted Items; 202."""
    row = _event_row(req, args[0])
    comment = req.json().get("comment")
    if comment is not None and not isinstance(comment, str):
        raise bad_request("'comment' must be a String.", "RequestBodyRead")
    elem = mp.parse(row.xml)
    if elem.findtext(f"{TNS}MyResponseType") not in (None, "Organizer"):
        raise bad_request(
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
            "ErrorInvalidRequest",
        )
    delete_row(req, row, "MoveToDeletedItems", SendMeetingCancellations=_cancellations(row))
    return Response(202)


# -- meeting responses ------------------------------------------------------------------------

RESPONSE_ACTIONS = {"accept": "Accept", "decline": "Decline", "tentativelyAccept": "Tentative"}


def _respond(req: Request, given: str, action: str) -> Response:
    row = _event_row(req, given)
    body = req.json()
    response = RESPONSE_ACTIONS[action]
    elem = mp.parse(row.xml)
    if elem.findtext(f"{TNS}MyResponseType") == "Organizer":
        raise bad_request(
            "Your request can't be completed. You can't respond to a meeting you organized.",
            "ErrorInvalidRequest",
        )
    write_fields(req, row, {"MyResponseType": response}, [])
    organizer = elem.find(f"{TNS}Organizer/{TNS}Mailbox/{TNS}EmailAddress")
    owner = req.store.mailbox(organizer.text) if organizer is not None and organizer.text else None
    uid = elem.findtext(f"{TNS}UID")
    if owner is not None and uid and body.get("sendResponse", True) is not False:
        _record_response(req, owner.id, uid, response)
    if response == "Decline":
        fresh = req.store.item(row.id)
        if fresh is not None:
            delete_row(req, fresh, "MoveToDeletedItems")
    return Response(202)


def _record_response(req: Request, owner_id: int, uid: str, response: str) -> None:
    """Set the responding attendee's ResponseType on the organizer's copy of the meeting."""
    calendar = req.store.distinguished_folder(owner_id, "calendar")
    if calendar is None:
        return
    me = req.user.smtp.lower()
    for row in req.store.items_in_folder(calendar.id):
        if row.kind != "CalendarItem" or mp.parse(row.xml).findtext(f"{TNS}UID") != uid:
            continue

        def mutate(elem: Element) -> set[str]:
            for att in elem.iter(f"{TNS}Attendee"):
                address = (att.findtext(f"{TNS}Mailbox/{TNS}EmailAddress") or "").lower()
                if address != me:
                    continue
                for old in att.findall(f"{TNS}ResponseType") + att.findall(
                    f"{TNS}LastResponseTime"
                ):
                    att.remove(old)
                etree.SubElement(att, t("ResponseType")).text = response
                etree.SubElement(att, t("LastResponseTime")).text = fmt_dt(dt.datetime.now(dt.UTC))
            return {"RequiredAttendees", "OptionalAttendees"}

        with req.store.write() as c:
            req.server.mail.change_item(c, row, mutate)


@route("POST", "events", "*", "accept", roles=CALENDARS)
def accept(req: Request, args: list[str]) -> Response:
    return _respond(req, args[0], "accept")


@route("POST", "events", "*", "decline", roles=CALENDARS)
def decline(req: Request, args: list[str]) -> Response:
    return _respond(req, args[0], "decline")


@route("POST", "events", "*", "tentativelyAccept", roles=CALENDARS)
def tentatively_accept(req: Request, args: list[str]) -> Response:
    return _respond(req, args[0], "tentativelyAccept")
