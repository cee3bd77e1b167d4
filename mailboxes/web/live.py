"""The mailbox page's live state as JSON: what "Sync now", "Test connection", "Refresh
folder list" and "track it now" (`?track=ID`) wait for (`static/crmsync/live_poller.js`
polls it for the page's `mailbox_live.js` and the admin form's `mailbox_admin_live.js`),
with the status in the words of `mailboxes.status_words`.

Only the person who manages the mailbox gets it (404 otherwise), and nothing secret is in
it: no credentials, only timestamps, counts and the status the page already shows.
"""

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from mailboxes.models import ExchangeFolderListing, Mailbox, ProcessedMessage
from mailboxes.status_words import status_of
from mailboxes.web.access import get_manageable_mailbox
from mailboxes.web.status import describe
from users.models import User


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _tracking(mailbox: Mailbox, record_id: str) -> dict[str, Any] | None:
    """Where "track it now" of one processed message stands (`?track=ID`)."""
    if not record_id.isdigit():
        return None
    record = ProcessedMessage.objects.filter(pk=int(record_id), mailbox=mailbox).first()
    if record is None:
        return None
    return {
        "waiting": record.track_requested_at is not None and record.track_finished_at is None,
        "finished_at": _iso(record.track_finished_at),
        "error": record.track_error,
        "summary": (
            record.reason.split(". Before:")[0]
            if record.track_finished_at and not record.track_error
            else ""
        ),
    }


def live_state(mailbox: Mailbox, now: datetime | None = None, track: str = "") -> dict[str, Any]:
    now = now or timezone.now()
    listing = ExchangeFolderListing.objects.filter(mailbox=mailbox).first()
    running = bool(
        mailbox.claimed_by and mailbox.claim_expires_at and mailbox.claim_expires_at > now
    )
    return {
        "now": now.isoformat(),
        "status": status_of(mailbox, now).as_json(),
        "lines": [{"level": line.level, "text": line.text} for line in describe(mailbox)],
        "sync": {
            "running": running,
            "last_started_at": _iso(mailbox.last_sync_started_at),
            "items_processed": mailbox.items_processed,
            "items_failed": mailbox.items_failed,
        },
        "test": {"status": mailbox.test_status, "tested_at": _iso(mailbox.tested_at)},
        "folders": {
            "waiting": bool(listing and listing.is_waiting),
            "listed_at": _iso(listing.listed_at if listing else None),
            "error_at": _iso(listing.error_at if listing else None),
            "count": len(listing.folders) if listing and isinstance(listing.folders, list) else 0,
        },
        "track": _tracking(mailbox, track) if track else None,
    }


@login_required
@require_GET
def mailbox_state(request: HttpRequest, mailbox_id: int) -> JsonResponse:
    user: User = request.user  # type: ignore[assignment]
    mailbox = get_manageable_mailbox(user, mailbox_id)
    state = live_state(mailbox, track=request.GET.get("track", ""))
    return JsonResponse(state, headers={"Cache-Control": "no-store"})
