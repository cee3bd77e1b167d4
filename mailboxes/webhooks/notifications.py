"""What a batch of Graph notifications does, without a call to Graph (the view answers
within Graph's 3 seconds): each is checked against its subscription's stored `clientState`,
then its mailbox is made due and one dispatch is enqueued.

Bursts coalesce: only the notification that moves a mailbox's next run forward enqueues a
dispatch; later ones find it due already (the dispatch, or the beat after it, claims it once).
A notification that arrives while the mailbox is being synced is remembered
(`GraphSubscription.last_notification_at`): the cycle then ends with the mailbox due again
(`plan.rerun_if_notified`). A mailbox backing off after errors (a throttling `Retry-After`) is
not pulled forward; it runs when its back-off ends.

Lifecycle notifications (https://learn.microsoft.com/graph/change-notifications-lifecycle-events):
`missed` makes the mailbox due at once like a change; `reauthorizationRequired` and
`subscriptionRemoved` need Graph, so a task handles them (`lifecycle.handle_lifecycle_event`).
"""

from __future__ import annotations

import functools
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crmsync.crypto import DecryptionError
from mailboxes.models import GraphSubscription
from mailboxes.webhooks.due import dispatch_now

logger = logging.getLogger(__name__)

# More than Graph puts in one POST; the rest of an oversized body is not looked at.
MAX_NOTIFICATIONS = 1000
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


class BadPayload(ValueError):
    """Not a Graph notification collection."""


@dataclass
class Outcome:
    accepted: int = 0
    ignored: int = 0
    mailboxes_due: set[int] = field(default_factory=set)
    lifecycle: list[tuple[int, str]] = field(default_factory=list)


def notifications_of(payload: Any) -> list[dict[str, Any]]:
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise BadPayload("expected a JSON object with a 'value' list")
    return [item for item in items[:MAX_NOTIFICATIONS] if isinstance(item, dict)]


def _client_state_matches(subscription: GraphSubscription, given: object) -> bool:
    if not isinstance(given, str):
        return False
    try:
        expected = subscription.client_state
    except DecryptionError:
        logger.warning(
            "Graph subscription %s: its clientState cannot be decrypted; notification ignored",
            subscription.subscription_id,
        )
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def handle_notifications(items: list[dict[str, Any]]) -> Outcome:
    """Check each notification, mark its mailbox due, queue lifecycle work; never raises for
    a notification it does not trust (it is logged, without secrets, and ignored)."""
    outcome = Outcome()
    ids = {str(item.get("subscriptionId") or "") for item in items}
    known = {
        sub.subscription_id: sub
        for sub in GraphSubscription.objects.filter(subscription_id__in=ids - {""}).only(
            "id", "mailbox_id", "subscription_id", "client_state"
        )
    }
    notified: set[int] = set()
    for item in items:
        sub_id = str(item.get("subscriptionId") or "")
        subscription = known.get(sub_id)
        if subscription is None or subscription.mailbox_id is None:
            # Unknown, or of a deleted mailbox (beat deletes it at Graph).
            outcome.ignored += 1
            logger.info("Graph notification for unknown subscription %r ignored", sub_id[:200])
            continue
        if not _client_state_matches(subscription, item.get("clientState")):
            outcome.ignored += 1
            logger.warning(
                "Graph notification for subscription %s (mailbox %s) with a wrong clientState "
                "ignored",
                sub_id,
                subscription.mailbox_id,
            )
            continue
        outcome.accepted += 1
        event = item.get("lifecycleEvent")
        if event is None or event == "missed":
            notified.add(subscription.pk)
            outcome.mailboxes_due.add(subscription.mailbox_id)
        elif event in LIFECYCLE_EVENTS:
            outcome.lifecycle.append((subscription.pk, str(event)))
        else:
            logger.info("Graph lifecycle event %r of subscription %s ignored", event, sub_id)
    if notified:
        GraphSubscription.objects.filter(pk__in=notified).update(
            last_notification_at=timezone.now()
        )
    dispatch_now(outcome.mailboxes_due)
    for pk, event in outcome.lifecycle:
        transaction.on_commit(functools.partial(_enqueue_lifecycle, pk, event))
    return outcome


def _enqueue_lifecycle(subscription_pk: int, event: str) -> None:
    from mailboxes.webhooks.tasks import graph_lifecycle_event

    try:
        graph_lifecycle_event.apply_async((subscription_pk, event), retry=False)
    except Exception:
        logger.exception(
            "Graph lifecycle event %s of subscription row %s not enqueued; beat renews it",
            event,
            subscription_pk,
        )
