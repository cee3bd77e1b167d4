"""FindItem's QueryString: the subset of Advanced Query Syntax that EWS documents
("QueryString (QueryStringType)", README "AQS").

A query is terms joined by AND, OR, NOT (upper case) and parentheses, AND when nothing is
written between two terms. A term is `value` (searched in every keyword property) or
`keyword:value`:

- word-phrase keywords `from`, `to`, `cc`, `bcc`, `participants` (to, cc and bcc),
  `subject`, `body`/`content`, `attachment`, `category`: the value's words must appear in
  that order in the property, each as a prefix of a word (`subject:proj` finds "Project
  plan"); quoted (`subject:"project"`) each must be a whole word, unless a `*` follows the
  closing quote; `subject:(a b)` needs both words anywhere in the property;
- date keywords `sent` and `received`: `today`, `yesterday`, a date (`2024-05-31`,
  `5/31/2024`), a range `FROM..TO`, or a comparison (`>`, `>=`, `<`, `<=`) with a date;
- `kind`: `email`, `meetings`, `tasks`, `notes`, `contacts`, `im` (the item's type);
- `hasattachment`, `isread`, `isflagged` with `true`/`false`, `importance` with
  `low`/`normal`/`high`, `size` with a comparison and a number of bytes.

Matching ignores case and accents of neither side. A keyword the subset does not have is
read as words searched everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from lxml import etree

from .soap import Element, child, children, parse_dt, text_of

Predicate = Callable[[Element], bool]

WORD = re.compile(r"\w+", re.UNICODE)
TOKEN = re.compile(r'\s*(\(|\)|"[^"]*"\*?|[^\s()"]+(?:"[^"]*"\*?)?|[^\s()]+)')
RECIPIENTS: dict[str, tuple[str, ...]] = {
    "to": ("ToRecipients",),
    "cc": ("CcRecipients",),
    "bcc": ("BccRecipients",),
    "participants": ("ToRecipients", "CcRecipients", "BccRecipients"),
}
KINDS = {
    "email": ("Message", "PostItem"),
    "meetings": ("CalendarItem", "MeetingRequest", "MeetingResponse", "MeetingCancellation"),
    "tasks": ("Task",),
    "notes": ("PostItem",),
    "contacts": ("Contact", "DistributionList"),
    "im": (),
}


def _words(text: str) -> list[str]:
    return [w.casefold() for w in WORD.findall(text)]


def _people(elem: Element, tags: tuple[str, ...]) -> str:
    parts = []
    for tag in tags:
        holder = child(elem, tag)
        for mailbox in holder.iter() if holder is not None else []:
            if isinstance(mailbox.tag, str) and etree.QName(mailbox).localname in (
                "Name",
                "EmailAddress",
            ):
                parts.append(mailbox.text or "")
    return " ".join(parts)


def _body(elem: Element) -> str:
    body = child(elem, "Body")
    if body is None or not body.text:
        return ""
    if body.get("BodyType") == "HTML":
        return re.sub(r"<[^>]*>", " ", body.text)
    return body.text


def _attachments(elem: Element) -> str:
    holder = child(elem, "Attachments")
    return " ".join(
        n.text or "" for n in (holder.iter() if holder is not None else []) if _is(n, "Name")
    )


def _is(node: Element, name: str) -> bool:
    return isinstance(node.tag, str) and etree.QName(node).localname == name


def _property_text(elem: Element, keyword: str) -> str:
    if keyword == "subject":
        return text_of(elem, "Subject") or ""
    if keyword in ("body", "content"):
        return _body(elem)
    if keyword == "attachment":
        return _attachments(elem)
    if keyword == "from":
        return _people(elem, ("From", "Sender"))
    if keyword in RECIPIENTS:
        return _people(elem, RECIPIENTS[keyword])
    if keyword == "category":
        return " ".join(s.text or "" for s in children(child(elem, "Categories"), "String"))
    # every keyword property
    return " ".join(
        _property_text(elem, k)
        for k in ("subject", "body", "attachment", "from", "participants", "category")
    )


def _sequence(have: list[str], want: list[str], exact: list[bool]) -> bool:
    """`want` in order, consecutive, within `have`: whole words where `exact`, else prefixes."""
    if not want:
        return True
    for start in range(len(have) - len(want) + 1):
        if all(
            have[start + i] == w if exact[i] else have[start + i].startswith(w)
            for i, w in enumerate(want)
        ):
            return True
    return False


def _text_term(keyword: str | None, value: str) -> Predicate:
    if value.startswith("(") and value.endswith(")"):
        words = _words(value)
        return lambda e: all(
            _sequence(_words(_property_text(e, keyword or "")), [w], [False]) for w in words
        )
    quoted = value.startswith('"')
    star = value.endswith("*")
    words = _words(value)
    exact = [quoted] * len(words)
    if quoted and star and exact:
        exact[-1] = False
    return lambda e: _sequence(_words(_property_text(e, keyword or "")), words, exact)


def _day(value: str) -> dt.date | None:
    value = value.strip('"').casefold()
    today = dt.datetime.now(dt.UTC).date()
    if value == "today":
        return today
    if value == "yesterday":
        return today - dt.timedelta(days=1)
    for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def _date_term(keyword: str, value: str) -> Predicate:
    field = "DateTimeSent" if keyword == "sent" else "DateTimeReceived"
    low: dt.date | None
    high: dt.date | None
    if ".." in value:
        first, _, last = value.partition("..")
        low, high = _day(first), _day(last)
    else:
        match = re.match(r"(>=|<=|>|<)?(.*)", value)
        op, rest = (match.group(1) or "", match.group(2)) if match else ("", value)
        day = _day(rest)
        if day is None:
            return lambda e: False
        low, high = {
            ">": (day + dt.timedelta(days=1), None),
            ">=": (day, None),
            "<": (None, day - dt.timedelta(days=1)),
            "<=": (None, day),
        }.get(op, (day, day))

    def check(elem: Element) -> bool:
        when = parse_dt(text_of(elem, field) or text_of(elem, "DateTimeCreated"))
        if when is None:
            return False
        day = when.date()
        return (low is None or day >= low) and (high is None or day <= high)

    return check


def _compare(value: str, actual: float) -> bool:
    match = re.match(r"(>=|<=|>|<)?\s*(\d+(?:\.\d+)?)", value)
    if not match:
        return False
    op, number = match.group(1) or "", float(match.group(2))
    return {
        ">": actual > number,
        ">=": actual >= number,
        "<": actual < number,
        "<=": actual <= number,
    }.get(op, actual == number)


def _term(raw: str) -> Predicate:
    keyword, sep, value = raw.partition(":")
    key = keyword.casefold()
    if not sep or not value:
        return _text_term(None, raw)
    if key in ("sent", "received"):
        return _date_term(key, value)
    if key == "kind":
        kinds = KINDS.get(value.strip('"').casefold(), ())
        return lambda e: etree.QName(e).localname in kinds
    if key in ("hasattachment", "hasattachments", "isread", "isflagged"):
        wanted = value.casefold() == "true"
        field = {"hasattachment": "HasAttachments", "hasattachments": "HasAttachments"}.get(
            key, "IsRead"
        )
        if key == "isflagged":
            return lambda e: (text_of(child(e, "Flag"), "FlagStatus") == "Flagged") == wanted
        return lambda e: (text_of(e, field) == "true") == wanted
    if key == "importance":
        return lambda e: (text_of(e, "Importance") or "Normal").casefold() == value.casefold()
    if key == "size":
        return lambda e: _compare(value, float(text_of(e, "Size") or "0"))
    if key in ("subject", "body", "content", "attachment", "from", "category", *RECIPIENTS):
        return _text_term(key, value)
    return _text_term(None, raw)


def compile_query(query: str) -> Predicate:
    """A predicate over a stored item element for the QueryString `query`."""
    tokens = [t for t in TOKEN.findall(query) if t]
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def parse_or() -> Predicate:
        parts = [parse_and()]
        while peek() == "OR":
            take()
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def parse_and() -> Predicate:
        parts = [parse_unary()]
        while peek() not in (None, ")", "OR"):
            if peek() == "AND":
                take()
            parts.append(parse_unary())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def parse_unary() -> Predicate:
        piece = peek()
        if piece is None or piece == ")":
            return lambda e: True
        take()
        if piece == "NOT":
            inner = parse_unary()
            return lambda e: not inner(e)
        if piece == "(":
            inner = parse_or()
            if peek() == ")":
                take()
            return inner
        if piece.endswith(":") and peek() == "(":
            # keyword:(a b): the words anywhere in the property
            take()
            words = []
            while peek() not in (None, ")"):
                words.append(take())
            if peek() == ")":
                take()
            return _term(f"{piece}({' '.join(words)})")
        return _term(piece)

    parts = [parse_or()]
    while position < len(tokens):  # stray closing parentheses: the rest, ANDed
        take()
        if position < len(tokens):
            parts.append(parse_or())
    return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))
