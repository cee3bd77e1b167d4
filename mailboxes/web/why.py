""" "Why was this not tracked?": the processed-message search and "track it now".

Shared by the self-service mailbox page and the admin's mailbox page. Every message a
mailbox pulled has a `ProcessedMessage` with the decision and its reason in words; the search
looks them up by sender, subject or Message-ID. A message filed as irrelevant keeps its raw
MIME (until `CRMSYNC_PROCESSED_REASON_DAYS`), so "track it now" files it without the mail
server, with the rules the filer applies to a message from a known sender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from mailboxes.mail.filing import MailFiler, MessageSource
from mailboxes.models import Mailbox, ProcessedMessage
from users.models import User

Outcome = ProcessedMessage.Outcome
RESULTS = 50
# Shortest search: two characters would match most of a mailbox.
MIN_QUERY = 3

DECISIONS: dict[str, str] = {
    Outcome.FILED: "Tracked",
    Outcome.LINKED: "Tracked (duplicate)",
    Outcome.IRRELEVANT: "Not tracked",
    Outcome.TOO_OLD: "Not tracked (too old)",
    Outcome.FAILED: "Kept raw (could not be filed)",
}


@dataclass
class Row:
    record: ProcessedMessage
    decision: str
    explanation: str
    track_url: str  # "" when it cannot be tracked from here


@dataclass
class Search:
    query: str
    results: list[ProcessedMessage]
    error: str = ""

    def rows(self, track_url: Callable[[ProcessedMessage], str]) -> list[Row]:
        return [
            Row(r, decision(r), explanation(r), track_url(r) if can_track(r) else "")
            for r in self.results
        ]


def search(mailbox: Mailbox, query: str) -> Search:
    """The newest processed messages whose sender, subject or Message-ID contains `query`."""
    query = query.strip()
    if not query:
        return Search("", [])
    if len(query) < MIN_QUERY:
        return Search(query, [], f"Type at least {MIN_QUERY} characters.")
    bare = query.strip("<>")
    found: QuerySet[ProcessedMessage] = (
        ProcessedMessage.objects.filter(mailbox=mailbox)
        .filter(
            Q(sender__icontains=query) | Q(subject__icontains=query) | Q(message_id__icontains=bare)
        )
        .select_related("email")
        .order_by("-processed_at", "-pk")
    )
    return Search(query, list(found[:RESULTS]))


def page_context(
    mailbox: Mailbox, query: str, action: str, track_url: Callable[[ProcessedMessage], str]
) -> dict[str, object]:
    """What `selfservice/_why.html` shows: the form posts to `action`."""
    found = search(mailbox, query)
    return {
        "why_action": action,
        "why_query": found.query,
        "why_error": found.error,
        "why_searched": bool(found.query),
        "why_rows": found.rows(track_url),
    }


def decision(record: ProcessedMessage) -> str:
    return DECISIONS.get(record.outcome, record.get_outcome_display())


def explanation(record: ProcessedMessage) -> str:
    """The reason in words; records older than the reasons say so."""
    if record.reason:
        return record.reason
    return (
        f"{record.get_outcome_display()}. The details are no longer kept (older than "
        f"{settings.CRMSYNC_PROCESSED_REASON_DAYS} days, or processed before reasons were "
        "recorded)."
    )


def can_track(record: ProcessedMessage) -> bool:
    return record.outcome == Outcome.IRRELEVANT and bool(record.raw_mime)


class CannotTrack(Exception):
    pass


def track_now(record_id: int, mailbox: Mailbox, user: User) -> ProcessedMessage:
    """File a message that was left out as irrelevant, as if its sender were known.

    Raises CannotTrack with a sentence for the person when the message is tracked already or
    its raw MIME is no longer kept.
    """
    with transaction.atomic():
        locked = ProcessedMessage.objects.select_for_update()
        record = locked.filter(pk=record_id, mailbox=mailbox).first()
        if record is None:
            raise CannotTrack("This message is not among the mailbox's processed messages.")
        if record.outcome != Outcome.IRRELEVANT:
            raise CannotTrack(f"This message is {decision(record).lower()} already.")
        if not record.raw_mime:
            raise CannotTrack(_not_kept())
        try:
            with record.raw_mime.open("rb") as stored:
                raw = stored.read()
        except OSError:
            raise CannotTrack(_not_kept()) from None
        outcome = MailFiler(mailbox, track_all=True).file(
            raw, MessageSource(received_at=record.processed_at)
        )
        by = user.get_username()
        record.outcome = outcome.outcome
        record.email = outcome.email
        email = outcome.email.pk if outcome.email else None
        said: dict[str, str] = {
            Outcome.FILED: f"filed as email {email}",
            Outcome.LINKED: f"linked to email {email}, which has the same Message-ID",
            Outcome.FAILED: f"kept raw as email {email}: {outcome.error}",
        }
        words = said.get(outcome.outcome, outcome.outcome)
        record.reason = (
            f"tracked on request by {by} on {timezone.now():%Y-%m-%d %H:%M} UTC: {words}. "
            f"Before: {record.reason}"
        )[:10_000]
        stored_name = record.raw_mime.name or ""
        record.raw_mime = ""
        record.save(update_fields=["outcome", "email", "reason", "raw_mime"])
        storage = ProcessedMessage._meta.get_field("raw_mime").storage
        transaction.on_commit(lambda: storage.delete(stored_name))
    return record


def _not_kept() -> str:
    return (
        "The message itself is no longer kept (messages left out are kept "
        f"{settings.CRMSYNC_PROCESSED_REASON_DAYS} days), so it cannot be tracked from here: "
        "move it into a tracked folder, or forward it to the forward mailbox."
    )


def forget_old_reasons(now: datetime | None = None) -> int:
    """Blank the search fields and remove the kept MIME of records past the retention.

    The rows stay: they keep the same server message from being filed twice.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.CRMSYNC_PROCESSED_REASON_DAYS)
    old = ProcessedMessage.objects.filter(processed_at__lt=cutoff).exclude(
        sender="", subject="", message_id="", reason="", raw_mime=""
    )
    storage = ProcessedMessage._meta.get_field("raw_mime").storage
    forgotten = 0
    for pk, name in old.values_list("pk", "raw_mime").iterator():
        updated = ProcessedMessage.objects.filter(pk=pk).update(
            sender="", subject="", message_id="", reason="", raw_mime=""
        )
        if updated and name:
            storage.delete(name)
        forgotten += updated
    return forgotten
