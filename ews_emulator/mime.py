"""MIME content of messages: parse what clients upload, build what they download."""

from __future__ import annotations

import base64
import datetime as dt
import email.policy
import email.utils
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser


@dataclass
class MimeAttachment:
    name: str
    content_type: str
    content: bytes
    content_id: str | None = None
    is_inline: bool = False


@dataclass
class MimeMessage:
    subject: str | None = None
    sender: tuple[str, str] | None = None
    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    bcc: list[tuple[str, str]] = field(default_factory=list)
    reply_to: list[tuple[str, str]] = field(default_factory=list)
    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None
    date: dt.datetime | None = None
    body: str = ""
    body_type: str = "Text"
    attachments: list[MimeAttachment] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)


def _addresses(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    return [(name, addr) for name, addr in email.utils.getaddresses([str(value)]) if addr]


def parse_mime(raw: bytes) -> MimeMessage:
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    out = MimeMessage()
    out.headers = [(k, str(v)) for k, v in msg.items()]
    out.subject = str(msg["Subject"]) if msg["Subject"] is not None else None
    senders = _addresses(msg["From"])
    out.sender = senders[0] if senders else None
    out.to = _addresses(msg["To"])
    out.cc = _addresses(msg["Cc"])
    out.bcc = _addresses(msg["Bcc"])
    out.reply_to = _addresses(msg["Reply-To"])
    out.message_id = str(msg["Message-ID"]).strip() if msg["Message-ID"] else None
    out.in_reply_to = str(msg["In-Reply-To"]).strip() if msg["In-Reply-To"] else None
    out.references = " ".join(str(msg["References"]).split()) if msg["References"] else None
    if msg["Date"]:
        try:
            out.date = email.utils.parsedate_to_datetime(str(msg["Date"]))
        except (TypeError, ValueError):
            out.date = None
    if isinstance(msg, EmailMessage):
        body_part = msg.get_body(preferencelist=("html", "plain"))
        if body_part is not None:
            content = body_part.get_content()
            out.body = content if isinstance(content, str) else content.decode("utf-8", "replace")
            out.body_type = "HTML" if body_part.get_content_subtype() == "html" else "Text"
        for part in msg.iter_attachments():
            decoded = part.get_payload(decode=True)
            payload = decoded if isinstance(decoded, bytes) else b""
            out.attachments.append(
                MimeAttachment(
                    name=part.get_filename() or "attachment",
                    content_type=part.get_content_type(),
                    content=payload,
                    content_id=(part["Content-ID"] or "").strip("<>") or None,
                    is_inline=part.get_content_disposition() == "inline",
                )
            )
    return out


def _fmt_addresses(addresses: list[tuple[str, str]]) -> str:
    return ", ".join(email.utils.formataddr(a) for a in addresses)


def _header(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8").encode()


def _fast_mime(m: MimeMessage, extra_headers: list[tuple[str, str]]) -> bytes | None:
    """Plain single-part messages, built directly (the email package is slow for bulk seeding)."""
    if m.attachments or any(not (n + v).isascii() for n, v in extra_headers):
        return None
    lines = []
    if m.sender:
        lines.append(f"From: {email.utils.formataddr(m.sender, charset='utf-8')}")
    for name, addresses in (("To", m.to), ("Cc", m.cc), ("Bcc", m.bcc), ("Reply-To", m.reply_to)):
        if addresses:
            formatted = [email.utils.formataddr(a, charset="utf-8") for a in addresses]
            lines.append(f"{name}: {', '.join(formatted)}")
    lines.append(f"Subject: {_header(m.subject or '')}")
    lines.append(f"Date: {email.utils.format_datetime(m.date or dt.datetime.now(dt.UTC))}")
    for name, value in (
        ("Message-ID", m.message_id),
        ("In-Reply-To", m.in_reply_to),
        ("References", m.references),
    ):
        if value:
            lines.append(f"{name}: {_header(value)}")
    lines.extend(f"{n}: {v}" for n, v in extra_headers if n.lower() not in SKIP_HEADERS)
    subtype = "html" if m.body_type == "HTML" else "plain"
    body = m.body or ""
    lines.append("MIME-Version: 1.0")
    lines.append(f'Content-Type: text/{subtype}; charset="utf-8"')
    if body.isascii() and all(len(line) < 900 for line in body.splitlines()):
        lines.append("Content-Transfer-Encoding: 7bit")
        text = "\r\n".join(body.splitlines())
    else:
        lines.append("Content-Transfer-Encoding: base64")
        text = base64.encodebytes(body.encode()).decode().replace("\n", "\r\n").rstrip()
    return ("\r\n".join(lines) + "\r\n\r\n" + text + "\r\n").encode()


SKIP_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "content-type",
        "mime-version",
        "content-transfer-encoding",
    }
)


def build_mime(m: MimeMessage, extra_headers: list[tuple[str, str]] | None = None) -> bytes:
    fast = _fast_mime(m, extra_headers or [])
    if fast is not None:
        return fast
    msg = EmailMessage(policy=email.policy.SMTP)
    if m.sender:
        msg["From"] = email.utils.formataddr(m.sender)
    if m.to:
        msg["To"] = _fmt_addresses(m.to)
    if m.cc:
        msg["Cc"] = _fmt_addresses(m.cc)
    if m.bcc:
        msg["Bcc"] = _fmt_addresses(m.bcc)
    if m.reply_to:
        msg["Reply-To"] = _fmt_addresses(m.reply_to)
    msg["Subject"] = m.subject or ""
    msg["Date"] = email.utils.format_datetime(m.date or dt.datetime.now(dt.UTC))
    if m.message_id:
        msg["Message-ID"] = m.message_id
    if m.in_reply_to:
        msg["In-Reply-To"] = m.in_reply_to
    if m.references:
        msg["References"] = m.references
    for name, value in extra_headers or []:
        if name.lower() not in SKIP_HEADERS:
            msg[name] = value
    subtype = "html" if m.body_type == "HTML" else "plain"
    msg.set_content(m.body or "", subtype=subtype)
    for att in m.attachments:
        maintype, _, subtype_ = att.content_type.partition("/")
        msg.add_attachment(
            att.content,
            maintype=maintype or "application",
            subtype=subtype_ or "octet-stream",
            filename=att.name,
            disposition="inline" if att.is_inline else "attachment",
            cid=f"<{att.content_id}>" if att.content_id else None,
        )
    return msg.as_bytes()
