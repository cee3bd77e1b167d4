"""GetServerTimeZones and GetUserAvailability (free/busy), as the EWS reference describes
them (README, "Time zones and availability")."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from .. import recurrence as rec
from .. import timezones as tz
from ..soap import Element, EwsError, child, children, m, parse_bool, parse_xml, sub, t, text_of
from ..store import Mailbox
from .base import Ctx, operation, response_root
from .calendar import exceptions_of

# -- GetServerTimeZones --------------------------------------------------------------------


def _definition(parent: Element, ms_id: str, year: int, *, full: bool) -> None:
    rule = tz.rule(ms_id, year)
    holder = sub(
        parent, t("TimeZoneDefinition"), Id=ms_id, Name=f"{tz.offset_name(rule.standard)} {ms_id}"
    )
    if not full:
        return
    periods = sub(holder, t("Periods"))
    sub(periods, t("Period"), Bias=tz.duration(-rule.standard), Name="Standard", Id="std")
    if rule.daylight is not None:
        sub(periods, t("Period"), Bias=tz.duration(-rule.daylight), Name="Daylight", Id="dlt")
    group = sub(sub(holder, t("TransitionsGroups")), t("TransitionsGroup"), Id="0")
    if rule.daylight is None or rule.to_standard is None or rule.to_daylight is None:
        sub(sub(group, t("Transition")), t("To"), "std", Kind="Period")
    else:
        for period, when in (("std", rule.to_standard), ("dlt", rule.to_daylight)):
            change = sub(group, t("RecurringDayTransition"))
            sub(change, t("To"), period, Kind="Period")
            sub(change, t("TimeOffset"), tz.duration(when.minutes))
            sub(change, t("Month"), str(when.month))
            sub(change, t("DayOfWeek"), tz.WEEKDAYS[when.weekday])
            sub(change, t("Occurrence"), str(when.occurrence))
    sub(sub(sub(holder, t("Transitions")), t("Transition")), t("To"), "0", Kind="Group")


@operation("GetServerTimeZones")
def get_server_time_zones(ctx: Ctx, req: Element) -> Element:
    """Every zone, or those of `Ids` (ids the server does not know are left out); with
    ReturnFullTimeZoneData (the default) their periods and transitions."""
    full = parse_bool(req.get("ReturnFullTimeZoneData"), default=True)
    known = tz.ms_zone_ids()
    holder = child(req, "Ids")
    wanted = known if holder is None else [i.text or "" for i in children(holder, "Id")]
    root, messages = response_root("GetServerTimeZones")
    msg = sub(messages, m("GetServerTimeZonesResponseMessage"), ResponseClass="Success")
    sub(msg, m("ResponseCode"), "NoError")
    definitions = sub(msg, m("TimeZoneDefinitions"))
    year = dt.datetime.now(dt.UTC).year
    for ms_id in wanted:
        if ms_id in known:
            _definition(definitions, ms_id, year, full=full)
    return root


# -- GetUserAvailability ---------------------------------------------------------------------

# "MergedFreeBusy": one digit per interval, the busiest status in it.
MERGED_DIGIT = {"Free": 0, "Tentative": 1, "Busy": 2, "OOF": 3, "NoData": 4}
# Exchange's default working hours: Monday to Friday, 8:00 to 17:00 ("WorkingHours").
WORK_DAYS, WORK_START, WORK_END = "Monday Tuesday Wednesday Thursday Friday", 480, 1020
DETAILED = {"Detailed": "FreeBusy", "DetailedMerged": "FreeBusyMerged"}
MAX_WINDOW_DAYS = 62  # "TimeWindow": at most 62 days (42 before Exchange 2010)


def _transition_of(holder: Element | None) -> tuple[int, tz.Transition | None]:
    if holder is None:
        return 0, None
    bias = int(text_of(holder, "Bias") or "0")
    time_text = text_of(holder, "Time") or "00:00:00"
    hours, minutes = (int(p) for p in time_text.split(":")[:2])
    month = int(text_of(holder, "Month") or "0")
    if not 1 <= month <= 12:
        return bias, None
    weekday = tz.WEEKDAYS.index(text_of(holder, "DayOfWeek") or "Sunday")
    order = int(text_of(holder, "DayOrder") or "1")
    return bias, tz.Transition(month, weekday, order, hours * 60 + minutes)


def request_zone(holder: Element | None) -> tz.SerializableZone:
    """The request's TimeZone: the zone of the window's times and of the answer's."""
    if holder is None:
        return tz.SerializableZone(bias=0)
    standard_bias, standard = _transition_of(child(holder, "StandardTime"))
    daylight_bias, daylight = _transition_of(child(holder, "DaylightTime"))
    if standard is None or daylight is None or standard_bias == daylight_bias:
        standard = daylight = None
    return tz.SerializableZone(
        int(text_of(holder, "Bias") or "0"), standard_bias, daylight_bias, standard, daylight
    )


def _local(value: str | None, zone: tz.SerializableZone) -> dt.datetime:
    """A request time: local to the request's zone unless it carries an offset."""
    if not value:
        raise EwsError("ErrorInvalidTimeInterval", "The time window is missing.")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(microsecond=0)
    if parsed.tzinfo is not None:
        return parsed.astimezone(dt.UTC)
    return zone.to_utc(parsed)


def _events(ctx: Ctx, mailbox: Mailbox, start: dt.datetime, end: dt.datetime) -> list[Element]:
    """The calendar's meetings, occurrences and exceptions overlapping [start, end)."""
    calendar = ctx.store.distinguished_folder(mailbox.id, "calendar")
    found: list[Element] = []
    for row in ctx.store.items_in_folder(calendar.id) if calendar else []:
        if row.kind != "CalendarItem":
            continue
        elem = parse_xml(row.xml)
        if text_of(elem, "CalendarItemType") == "RecurringMaster":
            for index, occ_start, occ_end in rec.window_occurrences(elem, start, end):
                found.append(rec.occurrence_element(elem, index, occ_start, occ_end))
            found.extend(parse_xml(exc.xml) for exc in exceptions_of(ctx, row))
        else:
            found.append(elem)
    out = []
    for elem in found:
        begins, ends = _times(elem)
        if begins is None or ends is None or not (begins < end and ends > start):
            continue
        if text_of(elem, "IsCancelled") == "true":
            continue
        out.append(elem)
    out.sort(key=lambda e: _times(e)[0] or start)
    return out


def _times(elem: Element) -> tuple[dt.datetime | None, dt.datetime | None]:
    from ..soap import parse_dt

    return parse_dt(text_of(elem, "Start")), parse_dt(text_of(elem, "End"))


def _busy(elem: Element) -> str:
    status = text_of(elem, "LegacyFreeBusyStatus") or "Busy"
    return status if status in (*MERGED_DIGIT, "WorkingElsewhere") else "Busy"


def _local_text(moment: dt.datetime, zone: tz.SerializableZone) -> str:
    return zone.from_utc(moment).strftime("%Y-%m-%dT%H:%M:%S")


def _merged(events: list[Element], start: dt.datetime, end: dt.datetime, interval: int) -> str:
    digits = []
    step = dt.timedelta(minutes=interval)
    slot = start
    while slot < end:
        level = 0
        for elem in events:
            begins, ends = _times(elem)
            if begins is not None and ends is not None and begins < slot + step and ends > slot:
                level = max(level, MERGED_DIGIT.get(_busy(elem), 0))
        digits.append(str(level))
        slot += step
    return "".join(digits)


def _working_hours(view: Element) -> None:
    """The mailbox's working hours: Exchange's defaults, in UTC (an emulator mailbox has no
    time zone of its own); a zone without DST is written with zero-bias rules, as Exchange
    does."""
    hours = sub(view, t("WorkingHours"))
    zone = sub(hours, t("TimeZone"))
    sub(zone, t("Bias"), "0")
    for tag, order, month, day in (
        ("StandardTime", 1, 1, "Monday"),
        ("DaylightTime", 5, 12, "Sunday"),
    ):
        rule = sub(zone, t(tag))
        sub(rule, t("Bias"), "0")
        sub(rule, t("Time"), "00:00:00")
        sub(rule, t("DayOrder"), str(order))
        sub(rule, t("Month"), str(month))
        sub(rule, t("DayOfWeek"), day)
    period = sub(sub(hours, t("WorkingPeriodArray")), t("WorkingPeriod"))
    sub(period, t("DayOfWeek"), WORK_DAYS)
    sub(period, t("StartTimeInMinutes"), str(WORK_START))
    sub(period, t("EndTimeInMinutes"), str(WORK_END))


def _view(
    ctx: Ctx,
    mailbox: Mailbox,
    requested: str,
    zone: tz.SerializableZone,
    start: dt.datetime,
    end: dt.datetime,
    interval: int,
) -> Element:
    # Without rights on the calendar a requester gets free/busy times only (the Default
    # user's permission, README "PermissionSet"): a Detailed view is downgraded.
    own = mailbox.id == ctx.target.id or ctx.auth.is_impersonator
    given = requested if own else DETAILED.get(requested, requested)
    view = etree.Element(m("FreeBusyView"))
    sub(view, t("FreeBusyViewType"), given)
    if given == "None":
        return view
    events = _events(ctx, mailbox, start, end)
    if given in ("MergedOnly", "FreeBusyMerged", "DetailedMerged"):
        sub(view, t("MergedFreeBusy"), _merged(events, start, end, interval))
    if given != "MergedOnly":
        array = sub(view, t("CalendarEventArray"))
        for elem in events:
            begins, ends = _times(elem)
            assert begins is not None and ends is not None
            event = sub(array, t("CalendarEvent"))
            sub(event, t("StartTime"), _local_text(begins, zone))
            sub(event, t("EndTime"), _local_text(ends, zone))
            sub(event, t("BusyType"), _busy(elem))
            if given in ("Detailed", "DetailedMerged"):
                details = sub(event, t("CalendarEventDetails"))
                item_id = child(elem, "ItemId")
                sub(details, t("ID"), item_id.get("Id", "") if item_id is not None else "")
                sub(details, t("Subject"), text_of(elem, "Subject") or "")
                sub(details, t("Location"), text_of(elem, "Location") or "")
                sub(
                    details,
                    t("IsMeeting"),
                    "true" if child(elem, "RequiredAttendees") is not None else "false",
                )
                kind = text_of(elem, "CalendarItemType") or "Single"
                sub(details, t("IsRecurring"), "true" if kind != "Single" else "false")
                sub(details, t("IsException"), "true" if kind == "Exception" else "false")
                sub(details, t("IsReminderSet"), text_of(elem, "ReminderIsSet") or "false")
                sub(
                    details,
                    t("IsPrivate"),
                    "true"
                    if text_of(elem, "Sensitivity") in ("Private", "Confidential")
                    else "false",
                )
        _working_hours(view)
    return view


@operation("GetUserAvailabilityRequest")
def get_user_availability(ctx: Ctx, req: Element) -> Element:
    """Free/busy of each mailbox of MailboxDataArray over FreeBusyViewOptions' TimeWindow,
    in the request's time zone; an address without a mailbox answers
    ErrorMailRecipientNotFound in its place."""
    zone = request_zone(child(req, "TimeZone"))
    options = child(req, "FreeBusyViewOptions")
    if options is None:
        raise EwsError("ErrorInvalidRequest", "FreeBusyViewOptions is required.")
    window = child(options, "TimeWindow")
    start = _local(text_of(window, "StartTime"), zone)
    end = _local(text_of(window, "EndTime"), zone)
    if end <= start:
        raise EwsError("ErrorInvalidTimeInterval", "EndTime must be after StartTime.")
    if end - start > dt.timedelta(days=MAX_WINDOW_DAYS):
        raise EwsError("ErrorTimeIntervalTooBig", "The time window is longer than 62 days.")
    interval = int(text_of(options, "MergedFreeBusyIntervalInMinutes") or "30")
    if not 5 <= interval <= 1440:
        raise EwsError(
            "ErrorInvalidMergedFreeBusyInterval",
            "MergedFreeBusyIntervalInMinutes must be 5 to 1440.",
        )
    requested = text_of(options, "RequestedView") or "FreeBusy"
    if requested not in ("None", "MergedOnly", "FreeBusy", "FreeBusyMerged", *DETAILED):
        raise EwsError("ErrorInvalidFreeBusyViewType", f"{requested} is not a view type.")
    root = etree.Element(m("GetUserAvailabilityResponse"))
    responses = sub(root, m("FreeBusyResponseArray"))
    for data in children(child(req, "MailboxDataArray"), "MailboxData"):
        address = text_of(child(data, "Email"), "Address") or ""
        response = sub(responses, m("FreeBusyResponse"))
        mailbox = ctx.store.mailbox(address)
        msg = sub(response, m("ResponseMessage"))
        if mailbox is None or not mailbox.has_mailbox:
            msg.set("ResponseClass", "Error")
            sub(msg, m("MessageText"), f"No mailbox with such guid or SMTP address: {address}.")
            sub(msg, m("ResponseCode"), "ErrorMailRecipientNotFound")
            sub(msg, m("DescriptiveLinkKey"), "0")
            continue
        msg.set("ResponseClass", "Success")
        sub(msg, m("ResponseCode"), "NoError")
        response.append(_view(ctx, mailbox, requested, zone, start, end, interval))
    return root
