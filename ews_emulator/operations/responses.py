"""Response objects in CreateItem: ReplyToItem, ReplyAllToItem, ForwardItem, AcceptItem,
TentativelyAcceptItem, DeclineItem and CancelCalendarItem.

Each one turns into the message it produces (a reply, a forward, a MeetingResponse, a
MeetingCancellation), which CreateItem then saves or sends by its MessageDisposition like
any other message; meeting responses and cancellations also change the calendars first.
"""

from __future__ import annotations

import copy
import sqlite3

from lxml import etree

from .. import items as itm
from ..soap import Element, EwsError, child, children, local, parse_xml, sub, t, text_of
from ..store import ItemRow
from .base import Ctx, resolve_item

MESSAGE_RESPONSES = {"ReplyToItem": "RE: ", "ReplyAllToItem": "RE: ", "ForwardItem": "FW: "}
MEETING_RESPONSES = {
    "AcceptItem": ("Accept", "Accepted: "),
    "TentativelyAcceptItem": ("Tentative", "Tentative: "),
    "DeclineItem": ("Decline", "Declined: "),
}
RESPONSE_TAGS = frozenset({*MESSAGE_RESPONSES, *MEETING_RESPONSES, "CancelCalendarItem"})
RECIPIENT_LISTS = ("ToRecipients", "CcRecipients", "BccRecipients")


def _reference(ctx: Ctx, spec: Element) -> ItemRow:
    ref = child(spec, "ReferenceItemId")
    if ref is None:
        raise EwsError("ErrorMissingInformationReferenceItemId", "The ReferenceItemId is missing.")
    row, _ = resolve_item(ctx, ref)
    return row


def _addresses(holder: Element | None) -> list[tuple[str, str]]:
    out = []
    for mb in holder.iter(t("Mailbox")) if holder is not None else []:
        address = text_of(mb, "EmailAddress")
        if address:
            out.append((text_of(mb, "Name") or address, address))
    return out


def _mailbox_list(tag: str, people: list[tuple[str, str]]) -> Element:
    holder = etree.Element(t(tag))
    seen: set[str] = set()
    for name, address in people:
        if address.lower() not in seen:
            seen.add(address.lower())
            holder.append(itm.mailbox_elem(t("Mailbox"), name, address))
    return holder


def _body(spec: Element, original: Element, header: str) -> Element:
    """The new text above the original's, as Outlook quotes it (in the new body's type)."""
    new = child(spec, "NewBodyContent")
    if new is None:
        new = child(spec, "Body")
    body_type = new.get("BodyType", "Text") if new is not None else "Text"
    text = new.text or "" if new is not None else ""
    old = child(original, "Body")
    old_text = old.text or "" if old is not None else ""
    body = etree.Element(t("Body"), BodyType=body_type)
    if body_type == "HTML":
        body.text = f"{text}<hr><div>{header}</div>{old_text}"
    else:
        body.text = f"{text}\r\n\r\n{header}\r\n{old_text}"
    return body


def message_response(ctx: Ctx, spec: Element) -> tuple[Element, list[Element]]:
    """The reply or forward a ReplyToItem/ReplyAllToItem/ForwardItem makes, with the
    attachments it carries (a forward keeps the original's)."""
    tag = local(spec.tag)
    row = _reference(ctx, spec)
    if row.kind not in itm.MESSAGE_KINDS:
        raise EwsError("ErrorInvalidReferenceItem", f"A {row.kind} cannot be answered.")
    original = parse_xml(row.xml)
    me = ctx.target.smtp.lower()
    sender = _addresses(child(original, "From")) or _addresses(child(original, "Sender"))
    msg = etree.Element(t("Message"), nsmap={"t": itm.T_NS})
    subject = text_of(spec, "Subject")
    if subject is None:
        subject = MESSAGE_RESPONSES[tag] + (text_of(original, "Subject") or "")
    sub(msg, t("Subject"), subject)
    header = (
        f"From: {sender[0][1] if sender else ''}\r\nSubject: {text_of(original, 'Subject') or ''}"
    )
    msg.append(_body(spec, original, header))
    given = {name: child(spec, name) for name in RECIPIENT_LISTS}
    if tag != "ForwardItem" and given["ToRecipients"] is None:
        to = list(sender)
        cc: list[tuple[str, str]] = []
        if tag == "ReplyAllToItem":
            to += [p for p in _addresses(child(original, "ToRecipients")) if p[1].lower() != me]
            cc = [p for p in _addresses(child(original, "CcRecipients")) if p[1].lower() != me]
        given["ToRecipients"] = _mailbox_list("ToRecipients", to)
        if cc and given["CcRecipients"] is None:
            given["CcRecipients"] = _mailbox_list("CcRecipients", cc)
    for name in RECIPIENT_LISTS:
        holder = given[name]
        if holder is not None and len(holder):
            msg.append(copy.deepcopy(holder))
    for name in ("IsReadReceiptRequested", "IsDeliveryReceiptRequested"):
        value = text_of(spec, name)
        if value is not None:
            sub(msg, t(name), value)
    message_id = text_of(original, "InternetMessageId")
    if message_id:
        sub(msg, t("InReplyTo"), message_id)
        references = text_of(original, "References") or ""
        sub(msg, t("References"), f"{references} {message_id}".strip())
    attachments: list[Element] = []
    if tag == "ForwardItem":
        attachments = [parse_xml(xml) for _, xml in ctx.store.attachments(row.id)]
    return msg, attachments


def _calendar_item_of(ctx: Ctx, row: ItemRow) -> ItemRow:
    """The responder's calendar item: the reference itself, or the meeting request's."""
    if row.kind == "CalendarItem":
        return row
    if row.kind == "MeetingRequest":
        holder = child(parse_xml(row.xml), "AssociatedCalendarItemId")
        found = ctx.store.item(holder.get("Id", "")) if holder is not None else None
        if found is not None:
            return found
    raise EwsError("ErrorInvalidReferenceItem", f"A {row.kind} is not a meeting.")


def _set_response(elem: Element, response: str) -> set[str]:
    for old in children(elem, "MyResponseType"):
        elem.remove(old)
    sub(elem, t("MyResponseType"), response)
    return {"MyResponseType"}


def meeting_response(ctx: Ctx, c: sqlite3.Connection, spec: Element) -> tuple[Element, ItemRow]:
    """Answer a meeting: the responder's calendar item records the answer (a declined one
    goes to Deleted Items, with the request); the MeetingResponse message to send or save,
    which records it on the organizer's item when it is delivered there."""
    response, prefix = MEETING_RESPONSES[local(spec.tag)]
    row = _reference(ctx, spec)
    item = _calendar_item_of(ctx, row)
    elem = parse_xml(item.xml)
    if text_of(elem, "MyResponseType") == "Organizer":
        raise EwsError(
            "ErrorInvalidRequest", "The organizer cannot respond to a meeting it organized."
        )
    item = ctx.mail.change_item(c, item, lambda e: _set_response(e, response))
    organizer = _addresses(child(elem, "Organizer"))
    if response == "Decline":
        item = ctx.mail.change_item(c, item, None, to_folder=_deleted_items(ctx))
    if row.kind == "MeetingRequest":
        fresh = ctx.store.item(row.id)
        if fresh is not None:
            ctx.mail.change_item(c, fresh, None, to_folder=_deleted_items(ctx))
    msg = etree.Element(t("MeetingResponse"), nsmap={"t": itm.T_NS})
    sub(msg, t("Subject"), text_of(spec, "Subject") or prefix + (text_of(elem, "Subject") or ""))
    body = child(spec, "Body")
    if body is not None:
        msg.append(copy.deepcopy(body))
    to = child(spec, "ToRecipients")
    msg.append(copy.deepcopy(to) if to is not None else _mailbox_list("ToRecipients", organizer))
    sub(msg, t("AssociatedCalendarItemId"), Id=item.id, ChangeKey=item.change_key)
    # What the organizer's mailbox records on delivery (`MailStore.deliver`).
    sub(msg, t("ResponseType"), response)
    sub(msg, t("UID"), text_of(elem, "UID") or "")
    return msg, item


def _deleted_items(ctx: Ctx) -> str:
    folder = ctx.store.distinguished_folder(ctx.target.id, "deleteditems")
    assert folder is not None
    return folder.id


def cancellation(ctx: Ctx, c: sqlite3.Connection, spec: Element) -> tuple[Element, ItemRow]:
    """CancelCalendarItem: only the organizer's item can be cancelled; the attendees' copies
    are marked cancelled, the organizer's goes to Deleted Items (its id is not found any
    more); the MeetingCancellation to send."""
    row = _reference(ctx, spec)
    elem = parse_xml(row.xml)
    if row.kind != "CalendarItem" or text_of(elem, "MyResponseType") not in (None, "Organizer"):
        raise EwsError("ErrorInvalidReferenceItem", "Only the organizer can cancel a meeting.")
    cancelled = ctx.mail.change_item(c, row, None, to_folder=_deleted_items(ctx))
    msg = etree.Element(t("MeetingCancellation"), nsmap={"t": itm.T_NS})
    sub(
        msg, t("Subject"), text_of(spec, "Subject") or f"Canceled: {text_of(elem, 'Subject') or ''}"
    )
    body = child(spec, "NewBodyContent")
    if body is None:
        body = child(spec, "Body")
    if body is not None:
        new_body = copy.deepcopy(body)
        new_body.tag = t("Body")
        msg.append(new_body)
    attendees = [
        p
        for name in ("RequiredAttendees", "OptionalAttendees", "Resources")
        for p in _addresses(child(elem, name))
        if p[1].lower() != ctx.target.smtp.lower()
    ]
    msg.append(_mailbox_list("ToRecipients", attendees))
    # Marks the attendees' meetings cancelled on delivery (`MailStore.deliver`).
    sub(msg, t("UID"), text_of(elem, "UID") or "")
    return msg, cancelled
