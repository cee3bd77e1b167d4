"""What a batch of Graph notifications does, without a call to Graph (the view answers
within Graph's 3 seconds): each is checked against its subscription's stored `clientState`,
then its mailbox is made due and one dispatch is enqueued.

Bursts coalesce: only the notification that moves a mailbox's next run forward enqueues a
dispatch; later ones find it due already (the dispatch, or the beat after it, claims it once).
A notification that arrives while the mailbox is being synced is remembered
(`GraphSubscription.last_notification_at`): the cycle then ends with the mailbox due again
(`rerun_if_notified`). A mailbox backing off after errors (a throttling `Retry-After`) is
not pulled forward; it runs when its back-off ends.

Lifecycle notifications (https://learn.microsoft.com/graph/change-notifications-lifecycle-events):
`missed` makes the mailbox due at once like a change; `reauthorizationRequired` and
`subscriptionRemoved` need Graph, so a task handles them (`lifecycle.handle_lifecycle_event`).
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, Exists, Q, Value, When
from django.db.models.expressions import Combinable
from django.utils import timezone

from crmsync.crypto import DecryptionError
from mailboxes.models import GraphSubscription, Mailbox

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
        if subscription is None:
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


def dispatch_now(mailbox_ids: Iterable[int]) -> None:
    """Make the mailboxes due now and enqueue a dispatch of their profiles, once per burst."""
    now = timezone.now()
    profiles: set[int] = set()
    for mailbox_id in sorted(set(mailbox_ids)):
        # Only pulls the next run forward (an already due mailbox has its dispatch coming),
        # never for a mailbox in error back-off.
        moved = Mailbox.objects.filter(
            id=mailbox_id, next_due_at__gt=now, transient_failure_count=0
        ).update(next_due_at=now)
        if moved:
            profile_id = (
                Mailbox.objects.filter(id=mailbox_id).values_list("profile_id", flat=True).first()
            )
            if profile_id is not None:
                profiles.add(profile_id)
    for profile_id in sorted(profiles):
        transaction.on_commit(functools.partial(_enqueue_dispatch, profile_id))


def _enqueue_dispatch(profile_id: int) -> None:
    from mailboxes.tasks import dispatch_due_mailboxes

    try:
        # No retries: a broker that does not answer must not hold Graph's request past its
        # 3 seconds; beat's next dispatch finds the mailbox due anyway.
        dispatch_due_mailboxes.apply_async((profile_id,), retry=False)
    except Exception:
        logger.exception("dispatch of profile %s not enqueued; beat will find it due", profile_id)


def _enqueue_lifecycle(subscription_pk: int, event: str) -> None:
    from mailboxes.tasks import graph_lifecycle_event

    try:
        graph_lifecycle_event.apply_async((subscription_pk, event), retry=False)
    except Exception:
        logger.exception(
            "Graph lifecycle event %s of subscription row %s not enqueued; beat renews it",
            event,
            subscription_pk,
        )


def rerun_if_notified(mailbox_id: int, started: datetime, next_due_at: datetime) -> Combinable:
    """The next run a cycle that began at `started` writes: now, when Graph told of a change
    since (a notification the cycle's reads may have missed), else `next_due_at`. Evaluated
    in the releasing UPDATE itself, so a notification is never lost between read and write."""
    notified = GraphSubscription.objects.filter(
        Q(mailbox_id=mailbox_id) & Q(last_notification_at__gt=started)
    )
    return Case(
        When(Exists(notified), then=Value(timezone.now())),
        default=Value(next_due_at),
    )
