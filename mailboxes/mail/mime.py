"""Parsing raw MIME into a `ParsedMessage`, never raising, never dropping a part.

The parser is the lenient compat32 one: it accepts anything and records defects. Every leaf
part ends up either in a body (the first text/plain and text/html that are not attachments,
further inline text parts appended) or as an attachment; a part whose content cannot be
decoded faithfully (broken base64, ...) is still kept, and the problem is listed in
`problems`, so that the caller keeps the raw message as well.
"""

from __future__ import annotations

import base64
import email
import email.utils
import hashlib
import logging
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message

from mailboxes.mail.text import clean, decode_bytes, decode_header_text, raw_header_text

logger = logging.getLogger(__name__)

MAX_DEPTH = 40
_MSGID_RE = re.compile(r"<[^<>\s]+>")
_FILENAME_BAD = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')

# Defects after which the decoded content may differ from what the sender meant.
_LOSSY_DEFECTS = (
    "InvalidBase64CharactersDefect",
    "InvalidBase64PaddingDefect",
    "InvalidBase64LengthDefect",
    "StartBoundaryNotFoundDefect",
    "CloseBoundaryNotFoundDefect",
    "MultipartInvariantViolationDefect",
    "NoBoundaryInMultipartDefect",
    "MissingHeaderBodySeparatorDefect",
)


@dataclass(frozen=True)
class Address:
    address: str  # lower-cased, as matched against CRM records
    name: str = ""

    def formatted(self) -> str:
        return email.utils.formataddr((self.name, self.address)) if self.name else self.address


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes
    content_id: str = ""
    is_inline: bool = False
    error: str = ""


@dataclass
class ParsedMessage:
    subject: str = ""
    sender: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    date: datetime | None = None
    body_text: str = ""
    body_html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    # Whole messages carried inside this one (message/rfc822 parts): forwards as attachments.
    embedded: list[bytes] = field(default_factory=list)
    # Problems that may have changed content (broken encodings, text decoded with a guessed
    # charset because the declared one did not fit): shown on the email, raw message kept.
    problems: list[str] = field(default_factory=list)
    # Harmless oddities (missing Date, Message-ID, From; winmail.dat left whole).
    notes: list[str] = field(default_factory=list)
    # Where NUL characters were removed (headers, bodies): reported as a problem.
    nul_removed: list[str] = field(default_factory=list)
    size: int = 0

    @property
    def all_addresses(self) -> set[str]:
        found = {a.address for a in (*self.to, *self.cc, *self.bcc)}
        if self.sender:
            found.add(self.sender.address)
        return found


def parse_message(raw: bytes) -> ParsedMessage:
    parsed = ParsedMessage(size=len(raw))
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception as exc:  # the caller keeps the raw message
        logger.warning("MIME parser failed: %s", exc)
        parsed.problems.append(f"unparseable message: {exc}")
        return parsed
    _read_headers(message, parsed)
    _note_nul_headers(message, parsed)
    try:
        _walk(message, parsed, depth=0, counter=[0])
    except Exception as exc:  # keep what was found, keep the raw message
        logger.warning("walking MIME parts failed: %s", exc)
        parsed.problems.append(f"MIME structure could not be read completely: {exc}")
    if message.defects:
        names = sorted({type(d).__name__ for d in message.defects})
        lossy = [n for n in names if n in _LOSSY_DEFECTS]
        if lossy:
            parsed.problems.append("malformed message: " + ", ".join(lossy))
    _report_nul(parsed)
    return parsed


def _note_nul_headers(message: Message, parsed: ParsedMessage) -> None:
    """Name the headers that carry NUL characters (`clean` removes them from what is kept)."""
    names = sorted({str(k) for k, v in message.raw_items() if "\x00" in str(v)})
    if names:
        parsed.nul_removed.append("headers " + ", ".join(names))


def _note_nul(parsed: ParsedMessage, what: str, text: str) -> None:
    if "\x00" in text and what not in parsed.nul_removed:
        parsed.nul_removed.append(what)


def _report_nul(parsed: ParsedMessage) -> None:
    """Text the CRM stores and queries by never holds a NUL (PostgreSQL refuses them in
    text; `clean` removes them); the raw message keeps them, and a problem says so."""
    if parsed.nul_removed:
        parsed.problems.append(
            "NUL characters removed from the "
            + "; ".join(parsed.nul_removed)
            + " (the raw message keeps them)"
        )


# --- headers ----------------------------------------------------------------------------------
def header(message: Message, name: str) -> str | None:
    """The raw value of the first header `name` (encoded words intact, 8-bit as surrogates)."""
    lowered = name.lower()
    for key, value in message.raw_items():
        if key.lower() == lowered:
            return value if isinstance(value, str) else str(value)
    return None


def parse_addresses(value: str | None) -> list[Address]:
    if not value:
        return []
    text = raw_header_text(value)
    found: list[Address] = []
    try:
        pairs = email.utils.getaddresses([text])
    except Exception:  # an unparseable list still yields what looks like addresses
        pairs = [("", m) for m in re.findall(r"[\w.+'-]+@[\w.-]+", text)]
    for name, addr in pairs:
        addr = addr.strip().strip("<>").strip()
        if not addr:
            continue
        found.append(
            Address(address=clean(addr.lower(), 320), name=clean(decode_header_text(name), 300))
        )
    return found


def normalize_message_id(value: str | None) -> str:
    if not value:
        return ""
    text = raw_header_text(value).strip()
    match = _MSGID_RE.search(text)
    if match:
        return clean(match.group(0), 998)
    token = text.split()[0] if text.split() else ""
    return clean(f"<{token.strip('<>')}>", 998) if token else ""


def message_ids(value: str | None) -> list[str]:
    if not value:
        return []
    return [clean(m, 998) for m in _MSGID_RE.findall(raw_header_text(value))]


def _read_headers(message: Message, parsed: ParsedMessage) -> None:
    parsed.subject = clean(decode_header_text(header(message, "Subject")), 500)
    senders = parse_addresses(header(message, "From")) or parse_addresses(header(message, "Sender"))
    parsed.sender = senders[0] if senders else None
    if parsed.sender is None:
        parsed.notes.append("no From address")
    parsed.to = parse_addresses(_all(message, "To"))
    parsed.cc = parse_addresses(_all(message, "Cc"))
    parsed.bcc = parse_addresses(_all(message, "Bcc"))
    parsed.reply_to = parse_addresses(header(message, "Reply-To"))
    parsed.message_id = normalize_message_id(header(message, "Message-ID"))
    if not parsed.message_id:
        parsed.notes.append("no Message-ID")
    parsed.in_reply_to = (message_ids(header(message, "In-Reply-To")) or [""])[0]
    parsed.references = message_ids(header(message, "References"))
    date_text = header(message, "Date")
    if date_text:
        try:
            parsed.date = email.utils.parsedate_to_datetime(raw_header_text(date_text).strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed.notes.append(f"unreadable Date {date_text[:80]!r}")
        if parsed.date is not None and parsed.date.tzinfo is None:
            parsed.date = parsed.date.replace(tzinfo=UTC)
    else:
        parsed.notes.append("no Date")


def _all(message: Message, name: str) -> str | None:
    lowered = name.lower()
    values = [str(v) for k, v in message.raw_items() if k.lower() == lowered]
    return ", ".join(values) if values else None


# --- parts ------------------------------------------------------------------------------------
def _walk(part: Message, parsed: ParsedMessage, *, depth: int, counter: list[int]) -> None:
    if depth > MAX_DEPTH:
        parsed.problems.append(f"MIME nesting deeper than {MAX_DEPTH}: the rest kept raw only")
        return
    ctype = part.get_content_type()
    if depth > 0 and any("\x00" in str(v) for _k, v in part.raw_items()):
        _note_nul(parsed, "headers of a MIME part", "\x00")
    if ctype == "message/rfc822" or (ctype.startswith("message/") and part.is_multipart()):
        _embedded(part, parsed, counter)
        return
    if part.is_multipart():
        lossy = sorted({type(d).__name__ for d in part.defects} & set(_LOSSY_DEFECTS))
        if lossy and depth > 0:
            parsed.problems.append(f"malformed {ctype} part: {', '.join(lossy)}")
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _walk(sub, parsed, depth=depth + 1, counter=counter)
            return
    _leaf(part, parsed, counter)


def _embedded(part: Message, parsed: ParsedMessage, counter: list[int]) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        # Not allowed for message/rfc822, but clients do it: decode, then read the message.
        data = _decoded_body(part, encoding)
        inner_message = email.message_from_bytes(data, policy=policy.compat32)
        subject = decode_header_text(header(inner_message, "Subject")) or "forwarded message"
    elif isinstance(inner, Message):
        try:
            data = inner.as_bytes(policy=policy.compat32)
        except Exception:  # fall back to the part's text
            data = str(inner).encode("utf-8", "surrogateescape")
        subject = decode_header_text(header(inner, "Subject")) or "forwarded message"
    else:
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
        subject = "forwarded message"
    parsed.embedded.append(data)
    filename = _safe_filename(_filename(part) or f"{subject}.eml", "message/rfc822", counter)
    parsed.attachments.append(
        ParsedAttachment(filename=filename, content_type="message/rfc822", payload=data)
    )


def _decoded_body(part: Message, encoding: str) -> bytes:
    raw = part.as_bytes(policy=policy.compat32)
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in raw:
            raw = raw.split(separator, 1)[1]
            break
    if encoding == "base64":
        return base64.b64decode(b"".join(raw.split()) + b"==", validate=False)
    return quopri.decodestring(raw)


def _leaf(part: Message, parsed: ParsedMessage, counter: list[int]) -> None:
    ctype = part.get_content_type()
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    before = len(part.defects)
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # keep the encoded form rather than nothing
        parsed.problems.append(f"part {ctype} could not be decoded: {exc}")
        raw_payload = part.get_payload()
        data = (
            raw_payload.encode("utf-8", "surrogateescape") if isinstance(raw_payload, str) else b""
        )
    if not isinstance(data, bytes):
        data = b""
    lossy = [type(d).__name__ for d in part.defects[before:] if type(d).__name__ in _LOSSY_DEFECTS]
    problem = ""
    if lossy:
        problem = f"content of {filename or ctype} may be damaged: {', '.join(sorted(set(lossy)))}"
        parsed.problems.append(problem)

    is_body_candidate = (
        ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename
    )
    if is_body_candidate:
        text, guessed = decode_bytes(data, part.get_content_charset())
        if guessed:
            # The declared charset was wrong: the text is a guess a person should see.
            parsed.problems.append(f"{ctype} part: {guessed}")
        _note_nul(parsed, "text body" if ctype == "text/plain" else "HTML body", text)
        if ctype == "text/plain":
            parsed.body_text = clean(f"{parsed.body_text}\n{text}" if parsed.body_text else text)
        else:
            parsed.body_html = clean(f"{parsed.body_html}\n{text}" if parsed.body_html else text)
        return

    if ctype == "text/calendar" and not filename:
        filename = "invite.ics"
    content_id = clean(raw_header_text(part.get("Content-ID", "") or "").strip().strip("<>"), 255)
    parsed.attachments.append(
        ParsedAttachment(
            filename=_safe_filename(filename, ctype, counter),
            content_type=clean(ctype, 255),
            payload=data,
            content_id=content_id,
            is_inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
            error=problem,
        )
    )
    if ctype == "application/ms-tnef" or (filename or "").lower() == "winmail.dat":
        _extract_tnef(data, parsed, counter)


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # a malformed RFC 2231 parameter
        name = None
    if not name:
        name = part.get_param("name", header="content-type")  # type: ignore[assignment]
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
    return decode_header_text(str(name)) if name else ""


def _safe_filename(name: str, ctype: str, counter: list[int]) -> str:
    name = _FILENAME_BAD.sub("_", name).strip(" ._")
    if not name:
        counter[0] += 1
        extension = mimetypes.guess_extension(ctype) or ".bin"
        name = f"attachment-{counter[0]}{extension}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) < 20 else name[:200]
    return clean(name, 255)


def _extract_tnef(data: bytes, parsed: ParsedMessage, counter: list[int]) -> None:
    """Outlook's winmail.dat: add its files as attachments too (the .dat itself is kept)."""
    try:
        from tnefparse import TNEF  # optional dependency: without it winmail.dat stays whole
    except ImportError:
        parsed.notes.append("winmail.dat kept whole: TNEF decoding is not installed")
        return
    try:
        tnef = TNEF(data)
    except Exception as exc:  # the .dat is kept; say why it was not opened
        parsed.notes.append(f"winmail.dat kept whole: {exc}")
        return
    for item in tnef.attachments:
        try:
            name = item.long_filename() or item.name
        except Exception:
            name = getattr(item, "name", "") or ""
        if isinstance(name, bytes):
            name, _note = decode_bytes(name, None)
        payload = item.data if isinstance(item.data, bytes) else bytes(item.data or b"")
        guessed = mimetypes.guess_type(str(name))[0] or "application/octet-stream"
        parsed.attachments.append(
            ParsedAttachment(
                filename=_safe_filename(str(name), guessed, counter),
                content_type=guessed,
                payload=payload,
            )
        )
    if not parsed.body_text and getattr(tnef, "body", None):
        body = tnef.body
        parsed.body_text = clean(body if isinstance(body, str) else decode_bytes(body, None)[0])
    if not parsed.body_html and getattr(tnef, "htmlbody", None):
        html = tnef.htmlbody
        parsed.body_html = clean(html if isinstance(html, str) else decode_bytes(html, None)[0])


def synthetic_message_id(raw: bytes, parsed: ParsedMessage) -> str:
    """A stable id for a message that has none, so that duplicates are still recognized.

    Built from what does not change between copies delivered to several mailboxes (sender,
    subject, date, body), not from trace headers that do.
    """
    digest = hashlib.sha256()
    for piece in (
        parsed.sender.address if parsed.sender else "",
        parsed.subject,
        parsed.date.isoformat() if parsed.date else "",
        parsed.body_text,
        parsed.body_html,
    ):
        digest.update(piece.encode("utf-8", "replace"))
        digest.update(b"\0")
    if not (parsed.body_text or parsed.body_html):
        digest.update(raw[-4096:])
    return f"<{digest.hexdigest()[:40]}@crmsync.generated.invalid>"
