"""Occurrences of recurring series and meeting invitations."""

from __future__ import annotations

import functools
import sqlite3

from lxml import etree

from .. import items as itm
from .. import recurrence as rec
from ..soap import Element, EwsError, child, children, fmt_dt, parse_xml, sub, t, text_of
from ..store import ItemRow, Mailbox
from .base import NOT_FOUND, Ctx


def exceptions_of(ctx: Ctx, master: ItemRow) -> list[ItemRow]:
    rows = ctx.store.conn.execute("SELECT id FROM items WHERE master_id = ?", (master.id,))
    found = [ctx.store.item(r[0]) for r in rows.fetchall()]
    return [r for r in found if r is not None]


def occurrence_view(ctx: Ctx, master: ItemRow, index: int) -> Element | bytes:
    """The element (or stored blob, for a modified one) of occurrence `index`."""
    elem = parse_xml(master.xml)
    times = rec.occurrence_by_index(elem, index)
    if times is None:
        raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", NOT_FOUND)
    start = fmt_dt(times[0])
    if start in rec.deleted_starts(elem):
        raise EwsError("ErrorCalendarOccurrenceIsDeletedFromRecurrence", NOT_FOUND)
    for exc in exceptions_of(ctx, master):
        if text_of(parse_xml(exc.xml), "OriginalStart") == start:
            return exc.xml
    return rec.occurrence_element(elem, index, *times)


def materialize_occurrence(ctx: Ctx, c: sqlite3.Connection, master: ItemRow, index: int) -> ItemRow:
    """Turn an occurrence into a stored exception item (before it is modified)."""
    view = occurrence_view(ctx, master, index)
    if isinstance(view, bytes):
        for exc in exceptions_of(ctx, master):
            if exc.xml == view:
                return exc
        raise EwsError("ErrorItemNotFound", NOT_FOUND)
    view.remove(child(view, "ItemId"))
    for name in ("CalendarItemType",):
        for old in children(view, name):
            old.text = "Exception"
    mailbox = ctx.store.mailbox_by_id(master.mailbox_id)
    assert mailbox is not None
    exc = ctx.mail.create_item(
        c,
        mailbox,
        "",
        view,
        master_id=master.id,
        fresh=False,
        item_id=rec.occurrence_id(master.id, index),
    )
    _record_modified(ctx, c, master)
    return exc


def _record_modified(ctx: Ctx, c: sqlite3.Connection, master: ItemRow) -> None:
    """Rebuild the master's ModifiedOccurrences from its exceptions (and bump the master)."""
    exceptions = [parse_xml(e.xml) for e in exceptions_of(ctx, master)]
    fresh = ctx.store.item(master.id) or master

    def mutate(elem: Element) -> set[str]:
        for old in children(elem, "ModifiedOccurrences"):
            elem.remove(old)
        if exceptions:
            holder = sub(elem, t("ModifiedOccurrences"))
            for exc in sorted(exceptions, key=lambda e: text_of(e, "OriginalStart") or ""):
                occ = sub(holder, t("Occurrence"))
                item_id = child(exc, "ItemId")
                if item_id is not None:
                    sub(occ, t("ItemId"), **dict(item_id.attrib))
                for name in ("Start", "End", "OriginalStart"):
                    sub(occ, t(name), text_of(exc, name) or "")
            itm.sort_children(elem, "CalendarItem")
        return {"ModifiedOccurrences"}

    ctx.mail.change_item(c, fresh, mutate, content=True)


def exception_changed(ctx: Ctx, c: sqlite3.Connection, exc: ItemRow) -> None:
    if exc.master_id:
        master = ctx.store.item(exc.master_id)
        if master is not None:
            _record_modified(ctx, c, master)


def delete_occurrence(
    ctx: Ctx, c: sqlite3.Connection, master: ItemRow, original_start: str
) -> None:
    for exc in exceptions_of(ctx, master):
        if text_of(parse_xml(exc.xml), "OriginalStart") == original_start:
            c.execute("DELETE FROM items WHERE id = ?", (exc.id,))
    exceptions = [parse_xml(e.xml) for e in exceptions_of(ctx, master)]

    def mutate(elem: Element) -> set[str]:
        holder = child(elem, "DeletedOccurrences")
        if holder is None:
            holder = sub(elem, t("DeletedOccurrences"))
        if original_start not in rec.deleted_starts(elem):
            sub(sub(holder, t("DeletedOccurrence")), t("Start"), original_start)
        modified = child(elem, "ModifiedOccurrences")
        for occ in children(modified, "Occurrence"):
            if text_of(occ, "OriginalStart") == original_start:
                modified.remove(occ)  # type: ignore[union-attr]
        if modified is not None and not len(modified):
            elem.remove(modified)
        del exceptions[:]
        itm.sort_children(elem, "CalendarItem")
        return {"DeletedOccurrences"}

    ctx.mail.change_item(c, master, mutate, content=True)


def occurrence_start(ctx: Ctx, master: ItemRow, index: int) -> str:
    times = rec.occurrence_by_index(parse_xml(master.xml), index)
    if times is None:
        raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", NOT_FOUND)
    return fmt_dt(times[0])


def send_invitations(
    ctx: Ctx,
    c: sqlite3.Connection,
    row: ItemRow,
    *,
    update: bool = False,
    only: set[str] | None = None,
) -> None:
    """Send meeting requests to emulator attendees (`only`: those of these lower-case
    addresses): each is delivered asynchronously like any message, and on delivery it gets
    its tentative calendar entry, as Exchange's Calendar Attendant makes it."""
    elem = parse_xml(row.xml)
    organizer = ctx.store.mailbox_by_id(row.mailbox_id)
    assert organizer is not None
    attendees = ctx.mail.recipients(elem, "RequiredAttendees", "OptionalAttendees", "Resources")
    for attendee in attendees:
        if attendee.id == organizer.id or (only is not None and attendee.smtp.lower() not in only):
            continue
        ctx.mail.later(
            c,
            functools.partial(
                _receive_request,
                ctx,
                attendee,
                row.xml,
                organizer.display_name,
                organizer.smtp,
                update,
            ),
        )

    def mark_sent(e: Element) -> set[str]:
        for old in children(e, "MeetingRequestWasSent"):
            e.remove(old)
        sub(e, t("MeetingRequestWasSent"), "true")
        return {"MeetingRequestWasSent"}

    if attendees:
        ctx.mail.change_item(c, ctx.store.item(row.id) or row, mark_sent)


def _receive_request(
    ctx: Ctx,
    attendee: Mailbox,
    xml: bytes,
    organizer_name: str,
    organizer_smtp: str,
    update: bool,
    c: sqlite3.Connection,
) -> None:
    """A meeting request reaches an attendee: the calendar entry (new, or the one of the
    same UID replaced) and the MeetingRequest in the Inbox."""
    elem = parse_xml(xml)
    calendar = ctx.store.distinguished_folder(attendee.id, "calendar")
    if calendar is None:
        return
    uid = text_of(elem, "UID")
    existing = None
    for other in ctx.store.items_in_folder(calendar.id):
        if other.kind == "CalendarItem" and text_of(parse_xml(other.xml), "UID") == uid:
            existing = other
            break
    copy = _attendee_copy(elem)
    if existing is not None:

        def replace(e: Element, copy: Element = copy) -> set[str]:
            keep = {"ItemId", "ParentFolderId", "MyResponseType"}
            for c_ in list(e):
                if etree.QName(c_).localname not in keep:
                    e.remove(c_)
            for c_ in copy:
                if etree.QName(c_).localname not in keep:
                    e.append(c_)
            return {"Start"}

        target = ctx.mail.change_item(c, existing, replace)
    else:
        sub(copy, t("MyResponseType"), "NoResponseReceived")
        target = ctx.mail.create_item(c, attendee, calendar.id, copy, fresh=False)
    request = _meeting_request(elem, organizer_name, organizer_smtp, update=update)
    sub(request, t("AssociatedCalendarItemId"), Id=target.id, ChangeKey=target.change_key)
    ctx.mail.deliver(c, attendee, request)


SERVER_FIELDS = ("ItemId", "ParentFolderId", "MeetingRequestWasSent", "MyResponseType")


def _attendee_copy(elem: Element) -> Element:
    copy = parse_xml(etree.tostring(elem))
    for name in (*SERVER_FIELDS, "ModifiedOccurrences", "ReminderDueBy"):
        for old in children(copy, name):
            copy.remove(old)
    for name in ("LegacyFreeBusyStatus",):
        for old in children(copy, name):
            copy.remove(old)
    sub(copy, t("LegacyFreeBusyStatus"), "Tentative")
    return copy


MEETING_FIELDS = (
    "Subject",
    "Body",
    "Importance",
    "Categories",
    "Start",
    "End",
    "IsAllDayEvent",
    "Location",
    "Organizer",
    "RequiredAttendees",
    "OptionalAttendees",
    "Resources",
    "Recurrence",
    "StartTimeZone",
    "EndTimeZone",
    "MeetingTimeZone",
    "UID",
)


def _meeting_request(elem: Element, name: str, smtp: str, *, update: bool) -> Element:
    request = etree.Element(t("MeetingRequest"), nsmap={"t": itm.T_NS})
    for field_name in MEETING_FIELDS:
        for found in children(elem, field_name):
            request.append(parse_xml(etree.tostring(found)))
    sender = sub(request, t("From"))
    sender.append(itm.mailbox_elem(t("Mailbox"), name, smtp))
    to = sub(request, t("ToRecipients"))
    for tag in ("RequiredAttendees", "OptionalAttendees"):
        for att in children(child(elem, tag), "Attendee"):
            mb = child(att, "Mailbox")
            if mb is not None:
                to.append(parse_xml(etree.tostring(mb)))
    sub(request, t("MeetingRequestType"), "FullUpdate" if update else "NewMeetingRequest")
    sub(request, t("IntendedFreeBusyStatus"), text_of(elem, "LegacyFreeBusyStatus") or "Busy")
    sub(request, t("ResponseType"), "NoResponseReceived")
    sub(request, t("IsResponseRequested"), "true")
    return request
