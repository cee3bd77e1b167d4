"""The MIME side of Message items: fields from uploaded MIME, MIME from fields."""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from .items import mailbox_elem
from .mime import MimeAttachment, MimeMessage, build_mime, parse_mime
from .soap import Element, EwsError, child, children, fmt_dt, local, sub, t, text_of

# Fields whose change makes a stored MimeContent stale.
MIME_FIELDS = frozenset(
    {
        "Subject",
        "Body",
        "From",
        "ToRecipients",
        "CcRecipients",
        "BccRecipients",
        "ReplyTo",
        "InternetMessageId",
        "InReplyTo",
        "References",
        "Attachments",
    }
)


def _mailboxes(holder: Element | None) -> list[tuple[str, str]]:
    out = []
    for mb in holder.iter(t("Mailbox")) if holder is not None else []:
        email = text_of(mb, "EmailAddress")
        if email:
            out.append((text_of(mb, "Name") or "", email))
    return out


def _list(elem: Element, tag: str, addresses: list[tuple[str, str]]) -> None:
    if addresses and child(elem, tag) is None:
        holder = sub(elem, t(tag))
        for name, email in addresses:
            holder.append(mailbox_elem(t("Mailbox"), name or None, email))


def apply_mime(elem: Element) -> list[Element]:
    """Fill a Message element's fields from its MimeContent; return attachments to create.

    Fields the client set explicitly beside the MIME win over the MIME headers.
    """
    mime_el = child(elem, "MimeContent")
    if mime_el is None or not (mime_el.text or "").strip():
        return []
    try:
        raw = base64.b64decode(mime_el.text or "", validate=False)
    except (binascii.Error, ValueError):
        raise EwsError("ErrorMimeContentInvalidBase64String", "Invalid base64 MIME.") from None
    try:
        parsed = parse_mime(raw)
    except Exception as e:
        raise EwsError("ErrorMimeContentConversionFailed", str(e)) from None
    mime_el.set("CharacterSet", "UTF-8")
    if child(elem, "Subject") is None and parsed.subject is not None:
        sub(elem, t("Subject"), parsed.subject)
    if child(elem, "Body") is None:
        sub(elem, t("Body"), parsed.body, BodyType=parsed.body_type)
    if child(elem, "From") is None and parsed.sender:
        sub(elem, t("From")).append(
            mailbox_elem(t("Mailbox"), parsed.sender[0] or None, parsed.sender[1])
        )
    _list(elem, "ToRecipients", parsed.to)
    _list(elem, "CcRecipients", parsed.cc)
    _list(elem, "BccRecipients", parsed.bcc)
    _list(elem, "ReplyTo", parsed.reply_to)
    for tag, value in (
        ("InternetMessageId", parsed.message_id),
        ("InReplyTo", parsed.in_reply_to),
        ("References", parsed.references),
    ):
        if value and child(elem, tag) is None:
            sub(elem, t(tag), value)
    if parsed.date and child(elem, "DateTimeSent") is None:
        sub(elem, t("DateTimeSent"), fmt_dt(parsed.date))
    headers = sub(elem, t("InternetMessageHeaders"))
    for name, value in parsed.headers:
        sub(headers, t("InternetMessageHeader"), value, HeaderName=name)
    if child(elem, "InternetMessageHeaders") is not headers:
        elem.remove(headers)
    out = []
    for att in parsed.attachments:
        a = etree.Element(t("FileAttachment"))
        sub(a, t("Name"), att.name)
        sub(a, t("ContentType"), att.content_type)
        if att.content_id:
            sub(a, t("ContentId"), att.content_id)
        sub(a, t("IsInline"), "true" if att.is_inline else "false")
        sub(a, t("Content"), base64.b64encode(att.content).decode())
        out.append(a)
    return out


def mime_from_fields(elem: Element, attachments: list[Element]) -> str:
    """Base64 MIME of a message built from its fields (and the original's extra headers)."""
    m = MimeMessage()
    m.subject = text_of(elem, "Subject") or ""
    senders = _mailboxes(child(elem, "From"))
    m.sender = senders[0] if senders else None
    m.to = _mailboxes(child(elem, "ToRecipients"))
    m.cc = _mailboxes(child(elem, "CcRecipients"))
    m.bcc = _mailboxes(child(elem, "BccRecipients"))
    m.reply_to = _mailboxes(child(elem, "ReplyTo"))
    m.message_id = text_of(elem, "InternetMessageId")
    m.in_reply_to = text_of(elem, "InReplyTo")
    m.references = text_of(elem, "References")
    from .soap import parse_dt

    m.date = parse_dt(text_of(elem, "DateTimeSent"))
    body = child(elem, "Body")
    m.body = body.text or "" if body is not None else ""
    m.body_type = body.get("BodyType", "Text") if body is not None else "Text"
    for att in attachments:
        if local(att.tag) != "FileAttachment":
            continue
        content = text_of(att, "Content") or ""
        m.attachments.append(
            MimeAttachment(
                name=text_of(att, "Name") or "attachment",
                content_type=text_of(att, "ContentType") or "application/octet-stream",
                content=base64.b64decode(content),
                content_id=text_of(att, "ContentId"),
                is_inline=text_of(att, "IsInline") == "true",
            )
        )
    extra = [
        (h.get("HeaderName", ""), h.text or "")
        for h in children(child(elem, "InternetMessageHeaders"), "InternetMessageHeader")
    ]
    return base64.b64encode(build_mime(m, extra)).decode()


def set_mime(elem: Element, attachments: list[Element]) -> None:
    for old in children(elem, "MimeContent"):
        elem.remove(old)
    sub(elem, t("MimeContent"), mime_from_fields(elem, attachments), CharacterSet="UTF-8")
