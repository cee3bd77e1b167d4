"""The mailbox page's live state as JSON: what "Sync now", "Test connection" and "Refresh
folder list" wait for (`static/crmsync/mailbox_live.js` polls it), with the status in the
words of `mailboxes.status_words`.

Only the person who manages the mailbox gets it (404 otherwise), and nothing secret is in
it: no credentials, only timestamps, counts and the status the page already shows.
"""

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from mailboxes.models import ExchangeFolderListing, Mailbox
from mailboxes.status_words import status_of
from mailboxes.web.access import get_manageable_mailbox
from mailboxes.web.status import describe
from users.models import User


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def live_state(mailbox: Mailbox, now: datetime | None = None) -> dict[str, Any]:
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
    }


@login_required
@require_GET
def mailbox_state(request: HttpRequest, mailbox_id: int) -> JsonResponse:
    user: User = request.user  # type: ignore[assignment]
    mailbox = get_manageable_mailbox(user, mailbox_id)
    return JsonResponse(live_state(mailbox), headers={"Cache-Control": "no-store"})
