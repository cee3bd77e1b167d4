"""Finding the CRM email an incoming message belongs with.

In order: the tracking token in the subject, In-Reply-To then References, the Exchange
conversation id, then smart matching (the subject without RE:/FW:/AW:/SV:... prefixes and at
least one shared party other than the receiving mailbox).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings

from activities.models import Email
from mailboxes.mail.mime import ParsedMessage

# Reply and forward prefixes in the languages Outlook and common clients use.
_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|doorst|tr|rif|r|enc|res|odp|pd|ynt|ilt|"
    r"atb|vl|vb|fs|ant)\s*(?:\[\d+\]|\(\d+\))?\s*(?::|\uff1a)\s*)+",
    re.IGNORECASE,
)
MAX_SMART_CANDIDATES = 50


class Method:
    TRACKING_TOKEN = "tracking_token"  # noqa: S105 - a method name, not a secret
    IN_REPLY_TO = "in_reply_to"
    REFERENCES = "references"
    CONVERSATION_ID = "conversation_id"
    SMART_MATCH = "smart_match"


@dataclass(frozen=True)
class Correlation:
    email: Email
    method: str


@lru_cache(maxsize=8)
def _token_regex(prefix: str, digits: int) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"\s?(\d{" + str(digits) + r",})", re.IGNORECASE)


def token_regex() -> re.Pattern[str]:
    return _token_regex(
        settings.CRMSYNC_TRACKING_TOKEN_PREFIX, settings.CRMSYNC_TRACKING_TOKEN_DIGITS
    )


def make_tracking_token(number: int) -> str:
    digits = settings.CRMSYNC_TRACKING_TOKEN_DIGITS
    return f"{settings.CRMSYNC_TRACKING_TOKEN_PREFIX}{number:0{digits}d}"


def find_tracking_token(subject: str) -> str:
    match = token_regex().search(subject)
    if not match:
        return ""
    return f"{settings.CRMSYNC_TRACKING_TOKEN_PREFIX}{match.group(1)}"


def strip_tracking_token(subject: str) -> str:
    return " ".join(token_regex().sub(" ", subject).split())


def normalize_subject(subject: str) -> str:
    """The subject as smart matching compares it: no prefixes, no token, folded spaces."""
    text = strip_tracking_token(subject)
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX_RE.sub("", text).strip()
    return " ".join(text.split()).casefold()


def correlate(
    parsed: ParsedMessage,
    *,
    conversation_id: str = "",
    own_addresses: set[str] | frozenset[str] = frozenset(),
    now: datetime,
    exclude_message_id: str = "",
) -> Correlation | None:
    token = find_tracking_token(parsed.subject)
    if token:
        parent = Email.objects.filter(tracking_token=token).order_by("pk").first()
        if parent is not None:
            return Correlation(parent, Method.TRACKING_TOKEN)

    if parsed.in_reply_to and parsed.in_reply_to != exclude_message_id:
        parent = Email.objects.filter(message_id=parsed.in_reply_to).order_by("pk").first()
        if parent is not None:
            return Correlation(parent, Method.IN_REPLY_TO)
    references = [r for r in parsed.references if r != exclude_message_id]
    if references:
        by_id = {
            e.message_id: e
            for e in Email.objects.filter(message_id__in=references).order_by("-pk")[:50]
        }
        for ref in reversed(references):  # the most recent first
            if ref in by_id:
                return Correlation(by_id[ref], Method.REFERENCES)

    if conversation_id:
        parent = Email.objects.filter(conversation_id=conversation_id).order_by("pk").first()
        if parent is not None:
            return Correlation(parent, Method.CONVERSATION_ID)

    return _smart_match(parsed, own_addresses=own_addresses, now=now)


def lookup_keys(parsed: ParsedMessage, *, conversation_id: str = "") -> set[str]:
    """What `correlate` looks emails up by, as keys comparable with `email_keys`.

    The filer writes a batch of new emails at once; these keys tell it whether a message
    could correlate with one of the batch that is not written yet (then it writes first).
    """
    keys = {f"id:{ref}" for ref in parsed.references}
    token = find_tracking_token(parsed.subject)
    if token:
        keys.add(f"token:{token.casefold()}")
    if parsed.in_reply_to:
        keys.add(f"id:{parsed.in_reply_to}")
    if conversation_id:
        keys.add(f"conversation:{conversation_id}")
    subject = _reply_subject(parsed.subject)
    if subject:
        keys.add(f"subject:{subject}")
    return keys


def email_keys(email: Email) -> set[str]:
    """The keys under which `correlate` could find `email` (see `lookup_keys`)."""
    keys = {f"id:{email.message_id}", f"subject:{normalize_subject(email.subject)}"}
    if email.tracking_token:
        keys.add(f"token:{email.tracking_token.casefold()}")
    if email.conversation_id:
        keys.add(f"conversation:{email.conversation_id}")
    return keys


def _reply_subject(subject: str) -> str:
    """The normalized subject smart matching compares, or "" when it does not try.

    Only a reply or a forward (its subject changed when normalized) is matched: a new
    message that merely shares a subject ("Hello") is not a response to anything.
    """
    normalized = normalize_subject(subject)
    if len(normalized) < 3 or normalized == " ".join(subject.split()).casefold():
        return ""
    return normalized


def _smart_match(
    parsed: ParsedMessage, *, own_addresses: set[str] | frozenset[str], now: datetime
) -> Correlation | None:
    normalized = _reply_subject(parsed.subject)
    if not normalized:
        return None
    others = parsed.all_addresses - {a.lower() for a in own_addresses}
    if not others:
        return None
    since = now - timedelta(days=settings.CRMSYNC_SMART_MATCH_DAYS)
    candidates = Email.objects.filter(created_at__gte=since, subject__icontains=normalized[-60:])
    if parsed.message_id:
        # The message itself, filed earlier by another mailbox, is not its own parent.
        candidates = candidates.exclude(message_id=parsed.message_id)
    candidates = candidates.prefetch_related("parties").order_by("-pk")[:MAX_SMART_CANDIDATES]
    for candidate in candidates:
        if normalize_subject(candidate.subject) != normalized:
            continue
        addresses = {p.address.lower() for p in candidate.parties.all()}
        addresses.add(candidate.from_address.lower())
        if addresses & others:
            return Correlation(candidate, Method.SMART_MATCH)
    return None
