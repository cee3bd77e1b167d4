"""The notification URL Microsoft Graph posts to (CRMSYNC_GRAPH_NOTIFICATION_URL).

No login and no CSRF token: Graph authenticates a notification by the subscription's secret
`clientState`, checked for each one (`notifications.handle_notifications`). Graph wants an
answer within 3 seconds (else it retries, then drops), so nothing here calls Graph.
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mailboxes.webhooks.notifications import BadPayload, handle_notifications, notifications_of

logger = logging.getLogger(__name__)

# Graph's tokens are about 120 characters; anything far longer is not Graph.
MAX_VALIDATION_TOKEN = 1024


@csrf_exempt
@require_POST
def graph_notifications(request: HttpRequest) -> HttpResponse:
    """The validation handshake (echo `validationToken` as text/plain), or a collection of
    change or lifecycle notifications (202 Accepted once each is checked)."""
    token = request.GET.get("validationToken")
    if token is not None:
        if not token or len(token) > MAX_VALIDATION_TOKEN:
            return HttpResponseBadRequest("validationToken is empty or too long.")
        # text/plain (never HTML) with nosniff (SecurityMiddleware): the echoed token cannot
        # be read as a page.
        return HttpResponse(token, content_type="text/plain; charset=utf-8")
    try:
        items = notifications_of(json.loads(request.body))
    except (ValueError, BadPayload) as exc:
        logger.info("Graph notification endpoint: a request that is not a notification: %s", exc)
        return HttpResponseBadRequest("Expected a JSON collection of Graph notifications.")
    outcome = handle_notifications(items)
    if outcome.accepted or outcome.ignored:
        logger.info(
            "Graph notifications: %s accepted, %s ignored, %s mailbox(es) due",
            outcome.accepted,
            outcome.ignored,
            len(outcome.mailboxes_due),
        )
    return HttpResponse(status=202)
