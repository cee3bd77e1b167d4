"""Forward mailbox: finding who forwarded a message and what they forwarded.

A forward arrives as an attachment (a message/rfc822 part: taken whole) or inline (the
original's headers quoted in the body under a separator line Outlook, Gmail or Apple Mail
writes: rebuilt from those lines). Without either, the message itself is what is filed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC
from email.utils import parsedate_to_datetime

from mailboxes.mail.correlation import normalize_subject
from mailboxes.mail.mime import ParsedMessage, parse_addresses, parse_message
from mailboxes.mail.text import clean

_SEPARATOR_RE = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message|ursprüngliche nachricht|"
    r"weitergeleitete nachricht|message d'origine|message transféré|mensaje original)\s*-{2,}"
    r"|begin forwarded message:|_{10,})\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_LINE_RE = re.compile(
    r"^\s*\**(from|von|de|sent|date|gesendet|datum|envoyé|to|an|à|para|cc|subject|betreff|"
    r"objet|asunto)\**\s*:\s*(.*)$",
    re.IGNORECASE,
)
_FIELD = {
    "from": "from",
    "von": "from",
    "de": "from",
    "sent": "date",
    "date": "date",
    "gesendet": "date",
    "datum": "date",
    "envoyé": "date",
    "to": "to",
    "an": "to",
    "à": "to",
    "para": "to",
    "cc": "cc",
    "subject": "subject",
    "betreff": "subject",
    "objet": "subject",
    "asunto": "subject",
}


def forwarded_content(outer: ParsedMessage) -> tuple[ParsedMessage, bytes | None]:
    """The message the sender of `outer` forwarded, and its raw bytes when it was attached."""
    if outer.embedded:
        raw = outer.embedded[0]
        return parse_message(raw), raw
    inline = _inline_forward(outer)
    return (inline or outer), None


def _inline_forward(outer: ParsedMessage) -> ParsedMessage | None:
    body = outer.body_text
    match = _SEPARATOR_RE.search(body)
    if not match:
        return None
    lines = body[match.end() :].lstrip("\r\n").splitlines()
    fields: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            if fields:
                break
            continue
        header = _HEADER_LINE_RE.match(line)
        if not header:
            if fields:
                break
            return None
        fields.setdefault(_FIELD[header.group(1).lower()], header.group(2).strip())
        index += 1
    if "from" not in fields:
        return None
    senders = parse_addresses(_mailto_cleanup(fields["from"]))
    date = None
    if "date" in fields:
        try:
            date = parsedate_to_datetime(fields["date"])
        except (TypeError, ValueError, IndexError):
            date = None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    subject = fields.get("subject") or normalize_subject(outer.subject)
    return replace(
        outer,
        sender=senders[0] if senders else None,
        to=parse_addresses(_mailto_cleanup(fields.get("to", ""))),
        cc=parse_addresses(_mailto_cleanup(fields.get("cc", ""))),
        bcc=[],
        subject=clean(subject, 500),
        date=date or outer.date,
        body_text=clean("\n".join(lines[index:]).strip()),
        in_reply_to="",
        references=[],
    )


def _mailto_cleanup(value: str) -> str:
    # Outlook writes "Name [mailto:a@b.c]"; Gmail writes "Name <a@b.c>".
    return re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", value).replace(";", ",")
