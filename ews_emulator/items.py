"""Items as stored: one canonical `<t:{Kind}>` element per item, in EWS schema order.

A stored item element carries every property EWS would return, the server-computed ones
included (ItemId with its ChangeKey, ParentFolderId, sizes, display strings, ...), so that
answering GetItem, FindItem or SyncFolderItems is a matter of filtering its children by
the requested shape. `finalize` recomputes the derived properties after every change.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from .schema import ITEM_ORDER
from .soap import (
    T_NS,
    Element,
    EwsError,
    bool_text,
    fmt_dt,
    local,
    new,
    norm_dt,
    parse_dt,
    parse_xml,
    sub,
    t,
    text_of,
)

ITEM_CLASSES = {
    "Message": "IPM.Note",
    "CalendarItem": "IPM.Appointment",
    "Contact": "IPM.Contact",
    "Task": "IPM.Task",
    "MeetingRequest": "IPM.Schedule.Meeting.Request",
    "MeetingResponse": "IPM.Schedule.Meeting.Resp.Pos",
    "MeetingCancellation": "IPM.Schedule.Meeting.Canceled",
    "PostItem": "IPM.Post",
    "DistributionList": "IPM.DistList",
}
KIND_FOR_TAG = {k: k for k in ITEM_CLASSES} | {"Item": "Message"}
MESSAGE_KINDS = ("Message", "MeetingRequest", "MeetingResponse", "MeetingCancellation", "PostItem")

DATETIME_ELEMENTS = frozenset(
    {
        "Start",
        "End",
        "DateTimeSent",
        "DateTimeReceived",
        "ReminderDueBy",
        "StartDate",
        "DueDate",
        "CompleteDate",
        "OriginalStart",
        "RecurrenceId",
        "AppointmentReplyTime",
        "AssignedTime",
        "LastResponseTime",
    }
)
RECURRENCE_RANGES = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")
BOOLEAN_ELEMENTS = frozenset(
    {
        "AllowNewTimeProposal",
        "HasAttachments",
        "HasBeenProcessed",
        "HasPicture",
        "IsAllDayEvent",
        "IsAssignmentEditable",
        "IsAssociated",
        "IsCancelled",
        "IsComplete",
        "IsDelegated",
        "IsDeliveryReceiptRequested",
        "IsDraft",
        "IsFromMe",
        "IsMeeting",
        "IsOnlineMeeting",
        "IsOutOfDate",
        "IsRead",
        "IsReadReceiptRequested",
        "IsRecurring",
        "IsResend",
        "IsResponseRequested",
        "IsSubmitted",
        "IsTeamTask",
        "IsUnmodified",
        "MeetingRequestWasSent",
        "ReminderIsSet",
        "IsInline",
        "IsContactPhoto",
    }
)
# Elements recomputed by `finalize` on every write (the client never sets them).
COMPUTED = frozenset(
    {
        "ItemId",
        "ParentFolderId",
        "ItemClass",
        "Size",
        "DateTimeCreated",
        "LastModifiedTime",
        "LastModifiedName",
        "HasAttachments",
        "Attachments",
        "TextBody",
        "UniqueBody",
        "DisplayTo",
        "DisplayCc",
        "ConversationTopic",
        "ConversationId",
        "IsRecurring",
        "IsMeeting",
        "Duration",
        "IsComplete",
        "CompleteName",
        "Notes",
        "FirstOccurrence",
        "LastOccurrence",
        "StatusDescription",
        "EffectiveRights",
    }
)
URI_ELEMENT = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhysicalAddress": "PhysicalAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
}
INDEXED_COLLECTIONS = frozenset(
    {"EmailAddresses", "PhysicalAddresses", "PhoneNumbers", "ImAddresses"}
)
PHYSICAL_ADDRESS_ORDER = ("Street", "City", "State", "CountryOrRegion", "PostalCode")
COMPLETE_NAME_ORDER = (
    "Title",
    "FirstName",
    "MiddleName",
    "LastName",
    "Suffix",
    "Initials",
    "FullName",
    "Nickname",
)
SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs)\s*:\s*)+", re.IGNORECASE)
TAG_RE = re.compile(r"<[^>]+>")


def tchild(elem: Element | None, name: str) -> Element | None:
    """First child in the EWS types namespace (items live only there)."""
    return None if elem is None else elem.find(f"{{{T_NS}}}{name}")


def tchildren(elem: Element | None, name: str) -> list[Element]:
    return [] if elem is None else elem.findall(f"{{{T_NS}}}{name}")


_ORDER_INDEX = {
    kind: {name: i for i, name in enumerate(order)} for kind, order in ITEM_ORDER.items()
}


def element_for_uri(uri: str) -> str:
    """The element name a FieldURI / IndexedFieldURI designates."""
    if uri.startswith("contacts:PhysicalAddress:"):
        return "PhysicalAddresses"
    return URI_ELEMENT.get(uri) or uri.rpartition(":")[2]


def ext_key(uri_elem: Element) -> tuple[tuple[str, str], ...]:
    """A hashable identity of an ExtendedFieldURI (its attributes, case-normalised)."""
    attrs = []
    for k, v in uri_elem.attrib.items():
        if k == "PropertyType":
            continue
        value = v.lower() if k in ("PropertyTag", "PropertySetId") else v
        if k == "PropertyTag":
            value = hex(int(value, 16)) if value.startswith("0x") else hex(int(value))
        attrs.append((k, value))
    return tuple(sorted(attrs))


def item_class_of(kind: str) -> str:
    return ITEM_CLASSES.get(kind, "IPM.Note")


def sort_children(elem: Element, kind: str) -> None:
    index = _ORDER_INDEX.get(kind) or _ORDER_INDEX["Message"]
    kids = list(elem)
    kids.sort(key=lambda c: index.get(local(c.tag), 10_000))
    elem[:] = kids


@dataclass
class Stamp:
    """What the server knows about an item when it (re)writes it."""

    item_id: str
    change_key: str
    folder_id: str
    folder_change_key: str
    created: str
    modified: str
    owner_smtp: str
    owner_name: str
    attachments: list[Element] = field(default_factory=list)
    expand: Callable[[Element], tuple[Element | None, Element | None]] | None = None


def new_message_id(owner_smtp: str) -> str:
    domain = owner_smtp.partition("@")[2] or "emulator.local"
    return f"<{uuid.uuid4().hex}@{domain}>"


def new_uid() -> str:
    return "040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper() * 2


def normalize_dates(elem: Element) -> None:
    """Datetimes to UTC `Z` form and xs:boolean 0/1 to false/true, as Exchange answers."""
    for c in elem.iter():
        name = local(c.tag)
        parent = c.getparent()
        if (
            name in ("StartDate", "EndDate")
            and parent is not None
            and (local(parent.tag) in RECURRENCE_RANGES)
        ):
            # A recurrence range's dates are dates ("RecurrenceRange" StartDate/EndDate),
            # answered with the series time zone's offset ("2016-01-01+01:00").
            if c.text:
                c.text = range_date(elem, c.text.strip()[:10])
            continue
        if name in DATETIME_ELEMENTS and c.text:
            normalized = norm_dt(c.text)
            if normalized:
                c.text = normalized
        elif name in BOOLEAN_ELEMENTS and c.text in ("0", "1"):
            c.text = "true" if c.text == "1" else "false"


def range_date(item: Element, day: str) -> str:
    from .recurrence import series_zone

    try:
        midnight = dt.datetime.combine(dt.date.fromisoformat(day), dt.time())
    except ValueError:
        return day
    offset = midnight.replace(tzinfo=series_zone(item)).utcoffset() or dt.timedelta()
    if not offset:
        return f"{day}Z"
    sign = "-" if offset < dt.timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{day}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def mailbox_elem(tag: str, name: str | None, email: str) -> Element:
    mb = new(tag)
    if name:
        sub(mb, t("Name"), name)
    sub(mb, t("EmailAddress"), email)
    sub(mb, t("RoutingType"), "SMTP")
    sub(mb, t("MailboxType"), "Mailbox")
    return mb


def complete_mailbox(mb: Element, lookup: Callable[[str], str | None]) -> None:
    """Fill Name, RoutingType and MailboxType of a Mailbox element the way Exchange does."""
    email = text_of(mb, "EmailAddress")
    if email and tchild(mb, "Name") is None:
        name_el = etree.Element(t("Name"))
        name_el.text = lookup(email) or email
        mb.insert(0, name_el)
    if tchild(mb, "RoutingType") is None and email:
        sub(mb, t("RoutingType"), "SMTP")
    if tchild(mb, "MailboxType") is None and email:
        sub(mb, t("MailboxType"), "Mailbox" if lookup(email) else "OneOff")
    order = {"Name": 0, "EmailAddress": 1, "RoutingType": 2, "MailboxType": 3, "ItemId": 4}
    mb[:] = sorted(mb, key=lambda c: order.get(local(c.tag), 9))


def complete_mailboxes(elem: Element, lookup: Callable[[str], str | None]) -> None:
    for tag in ("From", "Sender", "Organizer", "ReceivedBy", "ReceivedRepresenting"):
        holder = tchild(elem, tag)
        mb = tchild(holder, "Mailbox")
        if mb is not None:
            complete_mailbox(mb, lookup)
    for tag in ("ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo"):
        for mb in tchildren(tchild(elem, tag), "Mailbox"):
            complete_mailbox(mb, lookup)
    for tag in ("RequiredAttendees", "OptionalAttendees", "Resources"):
        for att in tchildren(tchild(elem, tag), "Attendee"):
            mb = tchild(att, "Mailbox")
            if mb is not None:
                complete_mailbox(mb, lookup)
            if tchild(att, "ResponseType") is None:
                sub(att, t("ResponseType"), "Unknown")


def body_text(elem: Element) -> tuple[str, str]:
    body = tchild(elem, "Body")
    if body is None:
        return "", "Text"
    return body.text or "", body.get("BodyType", "Text")


def html_to_text(value: str) -> str:
    return html.unescape(TAG_RE.sub("", value)).strip()


def convert_body(elem: Element, body_type: str) -> None:
    """Answer Body (and UniqueBody) in the BodyType a shape asks for ("BodyType",
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/bodytype):
    Best keeps the stored type; Text turns HTML into its text, each block ending in CRLF;
    HTML wraps text in an HTML document."""
    if body_type not in ("Text", "HTML"):
        return
    for name in ("Body", "UniqueBody"):
        body = tchild(elem, name)
        if body is None or body.get("BodyType", "Text") == body_type:
            continue
        value = body.text or ""
        if body_type == "Text":
            text = html_to_text(value)
            body.text = f"{text}\r\n" if text else ""
        else:
            escaped = html.escape(value).replace("\r\n", "<br>").replace("\n", "<br>")
            body.text = f"<html><body>{escaped}</body></html>"
        body.set("BodyType", body_type)


def with_text_body(elem: Element) -> None:
    """Add TextBody (the body as text) where the item has a Body but no TextBody."""
    if tchild(elem, "TextBody") is not None or tchild(elem, "Body") is None:
        return
    text, body_type = body_text(elem)
    sub(elem, t("TextBody"), html_to_text(text) if body_type == "HTML" else text, BodyType="Text")


def recipients_display(elem: Element, tag: str) -> str:
    names = []
    for mb in tchildren(tchild(elem, tag), "Mailbox"):
        names.append(text_of(mb, "Name") or text_of(mb, "EmailAddress") or "")
    return "; ".join(n for n in names if n)


def conversation_topic(subject: str | None) -> str:
    return SUBJECT_PREFIX.sub("", subject or "").strip()


def conversation_id_for(elem: Element) -> str:
    refs = (text_of(elem, "References") or "").split()
    root = refs[0] if refs else text_of(elem, "InReplyTo") or text_of(elem, "InternetMessageId")
    seed = root or conversation_topic(text_of(elem, "Subject"))
    return base64.b64encode(
        b"CONV" + hashlib.sha1(seed.encode(), usedforsecurity=False).digest()
    ).decode()


def _set(elem: Element, name: str, value: str | None, attrs: dict[str, str] | None = None) -> None:
    existing = tchild(elem, name)
    if existing is not None:
        elem.remove(existing)
    if value is None and not attrs:
        return
    sub(elem, t(name), value, **(attrs or {}))


def _default(elem: Element, name: str, value: str) -> None:
    if tchild(elem, name) is None:
        sub(elem, t(name), value)


def iso_duration(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    clock += f"{secs}S" if secs else ""
    if clock or not days:
        out += "T" + (clock or "0S")
    return out


def prepare_new(elem: Element, kind: str, owner_smtp: str, owner_name: str, now: str) -> None:
    """Defaults a freshly created item gets once, at creation."""
    normalize_dates(elem)
    for c in list(elem):
        if local(c.tag) in COMPUTED:
            elem.remove(c)
    _default(elem, "Sensitivity", "Normal")
    _default(elem, "Importance", "Normal")
    _default(elem, "Culture", "en-US")
    _default(elem, "DateTimeReceived", now)
    _default(elem, "DateTimeSent", now)
    for name in ("IsSubmitted", "IsResend", "IsUnmodified", "IsAssociated"):
        _default(elem, name, "false")
    if kind in MESSAGE_KINDS:
        _default(elem, "InternetMessageId", new_message_id(owner_smtp))
        _default(elem, "IsRead", "true")
        _default(elem, "IsDraft", "true")
        _default(elem, "IsFromMe", "false")
        if tchild(elem, "From") is None:
            holder = sub(elem, t("From"))
            holder.append(mailbox_elem(t("Mailbox"), owner_name, owner_smtp))
        _default(elem, "IsReadReceiptRequested", "false")
        _default(elem, "IsDeliveryReceiptRequested", "false")
        _default(elem, "IsResponseRequested", "false")
    else:
        _default(elem, "IsDraft", "false")
        _default(elem, "IsFromMe", "false")
    if kind == "CalendarItem":
        _default(elem, "UID", new_uid())
        _default(elem, "IsAllDayEvent", "false")
        _default(elem, "LegacyFreeBusyStatus", "Busy")
        _default(elem, "ReminderIsSet", "true")
        _default(elem, "ReminderMinutesBeforeStart", "15")
        _default(elem, "IsCancelled", "false")
        _default(elem, "MeetingRequestWasSent", "false")
        _default(elem, "IsResponseRequested", "true")
        _default(elem, "AppointmentSequenceNumber", "0")
        _default(elem, "AllowNewTimeProposal", "true")
        _default(elem, "IsOnlineMeeting", "false")
        _default(elem, "ConferenceType", "0")
        if tchild(elem, "Organizer") is None:
            holder = sub(elem, t("Organizer"))
            holder.append(mailbox_elem(t("Mailbox"), owner_name, owner_smtp))
    if kind == "Task":
        from .recurrence import with_first_occurrence

        with_first_occurrence(elem)
        _default(elem, "Status", "NotStarted")
        _default(elem, "PercentComplete", "0")
        _default(elem, "ReminderIsSet", "false")
        _default(elem, "ChangeCount", "1")
        _default(elem, "DelegationState", "NoMatch")
        _default(elem, "IsAssignmentEditable", "false")
        _default(elem, "IsTeamTask", "false")
        _default(elem, "Owner", owner_name)
    if kind == "Contact":
        _default(elem, "ContactSource", "Store")
        _default(elem, "PostalAddressIndex", "None")
        _default(elem, "HasPicture", "false")
        given, surname = text_of(elem, "GivenName"), text_of(elem, "Surname")
        display = " ".join(p for p in (given, text_of(elem, "MiddleName"), surname) if p)
        _default(elem, "DisplayName", display or text_of(elem, "CompanyName") or "")
        if surname and given:
            _default(elem, "FileAs", f"{surname}, {given}")
        else:
            _default(elem, "FileAs", text_of(elem, "DisplayName") or "")
        _default(elem, "FileAsMapping", "LastCommaFirst")
    if kind == "CalendarItem" or kind == "Task" or kind == "Contact":
        _default(elem, "ReminderIsSet", "false")
    if kind in ("CalendarItem", "Task", "Message") and tchild(elem, "Subject") is None:
        sub(elem, t("Subject"), "")


# "Subject": "The subject is limited to 255 characters" (a longer one is cut when stored).
SUBJECT_LIMIT = 255


def finalize(elem: Element, kind: str, stamp: Stamp, lookup: Callable[[str], str | None]) -> bytes:
    """Recompute the derived properties, order the children and serialise the item."""
    normalize_dates(elem)
    for c in list(elem):
        if local(c.tag) in COMPUTED:
            elem.remove(c)
    subject = tchild(elem, "Subject")
    if subject is not None and subject.text and len(subject.text) > SUBJECT_LIMIT:
        subject.text = subject.text[:SUBJECT_LIMIT]
    complete_mailboxes(elem, lookup)
    _set_stamp(elem, stamp)
    _set(elem, "ItemClass", item_class_of(kind))
    if stamp.attachments:
        holder = sub(elem, t("Attachments"))
        for a in stamp.attachments:
            holder.append(a)
    has_visible = any(a.findtext(t("IsInline")) != "true" for a in stamp.attachments)
    _set(elem, "HasAttachments", bool_text(has_visible))
    text, body_type = body_text(elem)
    plain = html_to_text(text) if body_type == "HTML" else text
    _set(elem, "TextBody", plain, {"BodyType": "Text"})
    if tchild(elem, "Body") is not None:
        unique = tchild(elem, "Body")
        assert unique is not None
        _set(elem, "UniqueBody", unique.text, {"BodyType": body_type})
    subject = text_of(elem, "Subject")
    if kind in MESSAGE_KINDS or kind == "CalendarItem":
        _set(elem, "DisplayTo", recipients_display(elem, "ToRecipients"))
        _set(elem, "DisplayCc", recipients_display(elem, "CcRecipients"))
        _set(elem, "ConversationId", None, {"Id": conversation_id_for(elem)})
    if kind in MESSAGE_KINDS:
        _set(elem, "ConversationTopic", conversation_topic(subject))
        if tchild(elem, "Sender") is None and tchild(elem, "From") is not None:
            sender = parse_xml(etree.tostring(tchild(elem, "From")))
            sender.tag = t("Sender")
            elem.append(sender)
    if kind == "CalendarItem":
        _finalize_calendar(elem, stamp)
    if kind == "Task":
        _finalize_task(elem, stamp)
    if kind == "Contact":
        _finalize_contact(elem, plain)
    return _serialise(elem, kind)


def _serialise(elem: Element, kind: str) -> bytes:
    """Order the children, add the item's Size and serialise it."""
    sort_children(elem, kind)
    etree.cleanup_namespaces(elem)
    size = len(etree.tostring(elem)) + 30
    index = _ORDER_INDEX.get(kind) or _ORDER_INDEX["Message"]
    size_rank = index["Size"]
    position = next(
        (i for i, c in enumerate(elem) if index.get(local(c.tag), 10_000) > size_rank), len(elem)
    )
    size_elem = etree.Element(t("Size"))
    size_elem.text = str(size)
    elem.insert(position, size_elem)
    return etree.tostring(elem)


# An empty element as stored: `<t:X .../>`, or `<t:X ...></t:X>` (an empty value `finalize`
# computed). lxml escapes `<` and `>` in text and attributes, so neither occurs inside a tag.
_EMPTY_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?(/>|></\1>)")


def restamp(stored: bytes, extended: list[Element], kind: str, stamp: Stamp) -> bytes | None:
    """`finalize` for a finalized item (`stored`) whose only change is to its extended
    properties, now `extended`: no derived property depends on them, so only the stamp's
    parts and the size are set again, for the same answer without recomputing every
    derived property (a sync client marking many items with one property made `finalize`
    most of the server's work). None when the stored item cannot be read back as written
    (then `finalize` it).

    lxml reads `<a></a>` as `<a/>` and would write it back so; each empty element keeps the
    form it was stored in, as `finalize` would write it again."""
    elem = parse_xml(stored)
    if tchild(elem, "FirstOccurrence") is not None:
        return None  # a series' first and last occurrences carry its change key too
    empties = [e for e in elem.iter() if e.text is None and not len(e)]
    forms = _EMPTY_ELEMENT.findall(stored)
    if len(forms) != len(empties):
        return None
    for e, (_, end) in zip(empties, forms, strict=True):
        if end != b"/>":
            e.text = ""
    for c in tchildren(elem, "ExtendedProperty") + tchildren(elem, "Size"):
        elem.remove(c)
    elem.extend(extended)
    _set_stamp(elem, stamp)
    return _serialise(elem, kind)


def _set_stamp(elem: Element, stamp: Stamp) -> None:
    """The item's parts the stamp gives (each child is put in its place by `_serialise`)."""
    _set(elem, "ItemId", None, {"Id": stamp.item_id, "ChangeKey": stamp.change_key})
    if stamp.folder_id:
        _set(
            elem,
            "ParentFolderId",
            None,
            {"Id": stamp.folder_id, "ChangeKey": stamp.folder_change_key},
        )
    _set(elem, "DateTimeCreated", stamp.created)
    _set(elem, "LastModifiedTime", stamp.modified)
    _set(elem, "LastModifiedName", stamp.owner_name)


def _finalize_calendar(elem: Element, stamp: Stamp) -> None:
    attendees = tchildren(tchild(elem, "RequiredAttendees"), "Attendee") + tchildren(
        tchild(elem, "OptionalAttendees"), "Attendee"
    )
    is_meeting = bool(attendees)
    _set(elem, "IsMeeting", bool_text(is_meeting))
    recurring = tchild(elem, "Recurrence") is not None
    item_type = text_of(elem, "CalendarItemType")
    if item_type not in ("Exception", "Occurrence"):
        _set(elem, "CalendarItemType", "RecurringMaster" if recurring else "Single")
    # IsRecurring: "part of a recurring item" (an occurrence or exception), false for the
    # series master itself, as Exchange answers ("IsRecurring",
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isrecurring).
    _set(elem, "IsRecurring", bool_text(item_type in ("Exception", "Occurrence")))
    organizer = (
        text_of(tchild(tchild(elem, "Organizer"), "Mailbox"), "EmailAddress") or ""
    ).lower()
    own = organizer == stamp.owner_smtp.lower()
    if own:
        _set(elem, "MyResponseType", "Organizer")
    elif tchild(elem, "MyResponseType") is None:
        _set(elem, "MyResponseType", "NoResponseReceived")
    state = "0" if not is_meeting else ("1" if own else "3")
    _set(elem, "AppointmentState", state)
    start, end = parse_dt(text_of(elem, "Start")), parse_dt(text_of(elem, "End"))
    if start and end:
        _set(elem, "Duration", iso_duration(int((end - start).total_seconds())))
    if recurring and stamp.expand is not None:
        first, last = stamp.expand(elem)
        if first is not None:
            elem.append(first)
        if last is not None:
            elem.append(last)


def _finalize_task(elem: Element, stamp: Stamp) -> None:
    status = text_of(elem, "Status") or "NotStarted"
    complete = status == "Completed"
    _set(elem, "IsComplete", bool_text(complete))
    _set(elem, "IsRecurring", bool_text(tchild(elem, "Recurrence") is not None))
    _set(elem, "StatusDescription", re.sub(r"(?<!^)(?=[A-Z])", " ", status))
    if complete:
        _set(elem, "PercentComplete", "100")
        if tchild(elem, "CompleteDate") is None:
            sub(elem, t("CompleteDate"), stamp.modified)
    else:
        _set(elem, "CompleteDate", None)


def _finalize_contact(elem: Element, notes: str) -> None:
    parts = {
        "FirstName": text_of(elem, "GivenName"),
        "MiddleName": text_of(elem, "MiddleName"),
        "LastName": text_of(elem, "Surname"),
        "Initials": text_of(elem, "Initials"),
        "FullName": text_of(elem, "DisplayName"),
        "Nickname": text_of(elem, "Nickname"),
        "Suffix": text_of(elem, "Generation"),
    }
    complete = sub(elem, t("CompleteName"))
    for name in COMPLETE_NAME_ORDER:
        if parts.get(name):
            sub(complete, t(name), parts[name])
    if notes:
        _set(elem, "Notes", notes)
    for coll in ("EmailAddresses", "PhoneNumbers", "ImAddresses", "PhysicalAddresses"):
        holder = tchild(elem, coll)
        if holder is not None and not len(holder):
            elem.remove(holder)
    if tchild(elem, "Subject") is None or not text_of(elem, "Subject"):
        _set(elem, "Subject", text_of(elem, "FileAs") or text_of(elem, "DisplayName") or "")


# -- updates -------------------------------------------------------------------------------


def _value_child(change: Element) -> Element:
    """The `<t:Message>`/`<t:Contact>`/... wrapper of a Set/Append change."""
    for c in change:
        if local(c.tag) not in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI"):
            return c
    raise EwsError("ErrorInvalidRequest", "The change has no item element")


def _insert_sorted(elem: Element, new_child: Element, kind: str) -> None:
    elem.append(new_child)
    sort_children(elem, kind)


def apply_set(elem: Element, kind: str, change: Element) -> set[str]:
    """Apply a SetItemField; return the names of the elements it touched."""
    path = change[0]
    wrapper = _value_child(change)
    name = local(path.tag)
    if name == "ExtendedFieldURI":
        key = ext_key(path)
        for prop in tchildren(elem, "ExtendedProperty"):
            uri = tchild(prop, "ExtendedFieldURI")
            if uri is not None and ext_key(uri) == key:
                elem.remove(prop)
        for prop in tchildren(wrapper, "ExtendedProperty"):
            elem.append(prop)
        return {"ExtendedProperty"}
    if not len(wrapper):
        raise EwsError("ErrorInvalidRequest", "SetItemField without a value")
    value = wrapper[0]
    normalize_dates(value)
    target = local(value.tag)
    if name == "IndexedFieldURI":
        _set_indexed(elem, kind, path, value)
        return {target}
    for old in tchildren(elem, target):
        elem.remove(old)
    _insert_sorted(elem, value, kind)
    return {target}


def _set_indexed(elem: Element, kind: str, path: Element, value: Element) -> None:
    coll_name = local(value.tag)
    index = path.get("FieldIndex", "")
    uri = path.get("FieldURI", "")
    holder = tchild(elem, coll_name)
    if holder is None:
        holder = etree.Element(t(coll_name))
        _insert_sorted(elem, holder, kind)
    new_entry = tchild(value, "Entry")
    if new_entry is None:
        raise EwsError("ErrorInvalidRequest", "Indexed value without an Entry")
    entry = next((e for e in tchildren(holder, "Entry") if e.get("Key") == index), None)
    if coll_name != "PhysicalAddresses" or entry is None:
        if entry is not None:
            holder.replace(entry, new_entry)
        else:
            holder.append(new_entry)
    else:
        for part in new_entry:
            for old in tchildren(entry, local(part.tag)):
                entry.remove(old)
            entry.append(part)
        entry[:] = sorted(
            entry,
            key=lambda c: (
                PHYSICAL_ADDRESS_ORDER.index(local(c.tag))
                if local(c.tag) in PHYSICAL_ADDRESS_ORDER
                else 9
            ),
        )
    holder[:] = sorted(holder, key=lambda e: e.get("Key", ""))
    del uri


def apply_append(elem: Element, kind: str, change: Element) -> set[str]:
    wrapper = _value_child(change)
    if not len(wrapper):
        raise EwsError("ErrorInvalidRequest", "AppendToItemField without a value")
    value = wrapper[0]
    target = local(value.tag)
    existing = tchild(elem, target)
    if existing is None:
        _insert_sorted(elem, value, kind)
    elif target == "Body":
        existing.text = (existing.text or "") + (value.text or "")
    else:
        for c in list(value):
            existing.append(c)
    return {target}


def apply_delete(elem: Element, kind: str, change: Element) -> set[str]:
    path = change[0]
    name = local(path.tag)
    if name == "ExtendedFieldURI":
        key = ext_key(path)
        for prop in tchildren(elem, "ExtendedProperty"):
            uri = tchild(prop, "ExtendedFieldURI")
            if uri is not None and ext_key(uri) == key:
                elem.remove(prop)
        return {"ExtendedProperty"}
    uri = path.get("FieldURI", "")
    target = element_for_uri(uri)
    if name == "IndexedFieldURI":
        holder = tchild(elem, target)
        index = path.get("FieldIndex", "")
        for entry in tchildren(holder, "Entry"):
            if entry.get("Key") != index:
                continue
            if uri.startswith("contacts:PhysicalAddress:"):
                for part in tchildren(entry, uri.rpartition(":")[2]):
                    entry.remove(part)
                if not len(entry):
                    holder.remove(entry)  # type: ignore[union-attr]
            else:
                holder.remove(entry)  # type: ignore[union-attr]
        if holder is not None and not len(holder):
            elem.remove(holder)
        return {target}
    if target in COMPUTED or target in ("ItemId", "ParentFolderId"):
        return set()
    for old in tchildren(elem, target):
        elem.remove(old)
    return {target}


# -- shapes --------------------------------------------------------------------------------

DEFAULT_SHAPE = frozenset(
    {
        "ItemId",
        "ParentFolderId",
        "ItemClass",
        "Subject",
        "Sensitivity",
        "Body",
        "Attachments",
        "DateTimeReceived",
        "Size",
        "Categories",
        "Importance",
        "IsSubmitted",
        "IsDraft",
        "IsFromMe",
        "IsResend",
        "IsUnmodified",
        "DateTimeSent",
        "DateTimeCreated",
        "HasAttachments",
        "Culture",
        "LastModifiedTime",
        "Sender",
        "ToRecipients",
        "CcRecipients",
        "From",
        "IsRead",
        "Start",
        "End",
        "Location",
        "Organizer",
        "IsAllDayEvent",
        "LegacyFreeBusyStatus",
        "CalendarItemType",
        "DisplayName",
        "GivenName",
        "Surname",
        "CompanyName",
        "EmailAddresses",
        "PhoneNumbers",
        "Status",
        "DueDate",
        "StartDate",
        "PercentComplete",
        "ConversationId",
        "InternetMessageId",
    }
)


# What FindItem and SyncFolderItems never return, even when asked for by name: bodies,
# attachments, MIME, recipient and attendee lists, recurrence and occurrence details. They
# need a GetItem ("SyncFolderItems operation": "cannot return properties like Body or
# Attachments"; "FindItem operation": "does not return any of the message body formats or
# the recipient lists"; the EWS Managed API schemas mark none of them findable).
NOT_IN_VIEWS = frozenset(
    {
        "MimeContent",
        "Body",
        "UniqueBody",
        "NormalizedBody",
        "TextBody",
        "Attachments",
        "ResponseObjects",
        "ToRecipients",
        "CcRecipients",
        "BccRecipients",
        "ReplyTo",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "ConflictingMeetings",
        "AdjacentMeetings",
        "Recurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "FirstOccurrence",
        "LastOccurrence",
    }
)
# "FindItem operation": only the first 512 bytes of a streamable property, "for Unicode, the
# first 255 characters".
VIEW_TEXT_LIMIT = 255


def _cut_long_texts(elem: Element) -> None:
    for node in elem.iter():
        if node is elem or len(node) or node.text is None:
            continue
        if len(node.text) > VIEW_TEXT_LIMIT:
            node.text = node.text[:VIEW_TEXT_LIMIT]


@dataclass
class Shape:
    """The element names (and extended properties) a request asked for.

    `view`: the answer is a FindItem or SyncFolderItems one, which leaves out what only
    GetItem returns (`NOT_IN_VIEWS`) and cuts long strings.
    """

    base: str = "Default"
    names: set[str] = field(default_factory=set)
    ext: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    view: bool = False
    body_type: str = "Best"

    @classmethod
    def parse(cls, shape_elem: Element | None, *, view: bool = False) -> Shape:
        shape = cls(view=view)
        if shape_elem is None:
            return shape
        shape.base = text_of(shape_elem, "BaseShape", "Default") or "Default"
        shape.body_type = text_of(shape_elem, "BodyType", "Best") or "Best"
        additional = tchild(shape_elem, "AdditionalProperties")
        for prop in additional if additional is not None else []:
            kind = local(prop.tag)
            if kind == "ExtendedFieldURI":
                shape.ext.add(ext_key(prop))
            elif kind in ("FieldURI", "IndexedFieldURI"):
                shape.names.add(element_for_uri(prop.get("FieldURI", "")))
        return shape

    def wants(self, name: str) -> bool:
        if self.view and name in NOT_IN_VIEWS:
            return False
        if name == "ItemId" or name in self.names:
            return True
        if self.base == "AllProperties":
            return name != "MimeContent"
        if self.base == "Default":
            return name in DEFAULT_SHAPE
        return False

    def render(self, blob: bytes) -> Element:
        elem = parse_xml(blob)
        if (
            self.base == "AllProperties"
            and not self.ext
            and "MimeContent" in self.names
            and not self.view
            and self.body_type == "Best"
        ):
            return elem
        for c in list(elem):
            name = local(c.tag)
            if name == "ExtendedProperty":
                uri = tchild(c, "ExtendedFieldURI")
                if uri is None or ext_key(uri) not in self.ext:
                    elem.remove(c)
            elif not self.wants(name):
                elem.remove(c)
        if self.view:
            _cut_long_texts(elem)
        else:
            convert_body(elem, self.body_type)
        return elem


def summary_of_attachment(att: Element) -> Element:
    """The attachment as listed in its item's Attachments (no content)."""
    out = etree.Element(att.tag, nsmap={"t": T_NS})
    for c in att:
        name = local(c.tag)
        if name in ("Content", "Item", "Message", "CalendarItem", "Contact", "Task"):
            continue
        out.append(parse_xml(etree.tostring(c)))
    return out


def stamp_times(now: dt.datetime) -> str:
    return fmt_dt(now)
