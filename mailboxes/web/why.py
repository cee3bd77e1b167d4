""" "Why was this not tracked?": the processed-message search and "track it now".

Shared by the self-service mailbox page and the admin's mailbox page. Every message a
mailbox pulled has a `ProcessedMessage` with the decision and its reason in words; the search
looks them up by sender, subject or Message-ID. A message filed as irrelevant keeps its raw
MIME (until `CRMSYNC_PROCESSED_REASON_DAYS`), so "track it now" files it without the mail
server, with the rules the filer applies to a message from a known sender, on a worker
(`mailboxes.mail.track_on_request`): a large message takes seconds to file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from mailboxes.mail.track_on_request import CannotTrack, request_tracking
from mailboxes.models import Mailbox, ProcessedMessage
from mailboxes.web.actions import enqueue_task
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
    waiting: bool  # "track it now" waits for a worker


@dataclass
class Search:
    query: str
    results: list[ProcessedMessage]
    error: str = ""

    def rows(self, track_url: Callable[[ProcessedMessage], str]) -> list[Row]:
        return [
            Row(
                r,
                decision(r),
                explanation(r),
                track_url(r) if can_track(r) else "",
                is_waiting(r),
            )
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


def is_waiting(record: ProcessedMessage) -> bool:
    return record.track_requested_at is not None and record.track_finished_at is None


def can_track(record: ProcessedMessage) -> bool:
    return record.outcome == Outcome.IRRELEVANT and bool(record.raw_mime) and not is_waiting(record)


def ask_to_track(record_id: int, mailbox: Mailbox, user: User, *, live: bool) -> tuple[bool, str]:
    """Ask a worker to track the message (`mailboxes.mail.track_on_request`): whether it
    started, and what to tell the person (`live`: the page shows the result by itself)."""
    try:
        record, asked = request_tracking(record_id, mailbox)
    except CannotTrack as exc:
        return False, f"Not tracked: {exc}"
    if not asked:
        return True, "This message is being tracked on a worker already."
    started = enqueue_task("track_processed_message", record.pk, user.pk, what="Tracking")
    if not started.ok:
        ProcessedMessage.objects.filter(pk=record.pk).update(track_requested_at=None)
        return False, started.message
    if live:
        return True, started.message
    return True, "Tracking started on a worker; reload this page to see the result."
