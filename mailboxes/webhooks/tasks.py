"""Celery tasks of Graph subscriptions: beat's upkeep and the lifecycle events the
notification view accepts. Registered by the Celery app (`crmsync/celery.py`) under the
names beat uses (`mailboxes.tasks.*`, kept from when they lived there)."""

from __future__ import annotations

import logging

from celery import shared_task

from mailboxes.models import Mailbox
from mailboxes.sync.errors import SyncError

logger = logging.getLogger(__name__)


@shared_task(name="mailboxes.tasks.maintain_graph_subscriptions", ignore_result=True)
def maintain_graph_subscriptions() -> int:
    """Beat: enqueue the subscription upkeep of each Graph mailbox that needs it (made,
    renewed, deleted), one task per mailbox."""
    from django.utils import timezone

    from mailboxes.webhooks.subscriptions import mailboxes_to_maintain, orphans_exist

    due = mailboxes_to_maintain(timezone.now())
    for mailbox_id in due:
        maintain_graph_subscriptions_of.delay(mailbox_id)
    if orphans_exist():
        delete_orphaned_graph_subscriptions.delay()
    if due:
        logger.info("Graph subscriptions of %s mailbox(es) to make, renew or delete", len(due))
    return len(due)


@shared_task(name="mailboxes.tasks.maintain_graph_subscriptions_of", ignore_result=True)
def maintain_graph_subscriptions_of(mailbox_id: int) -> str:
    from mailboxes.webhooks.subscriptions import maintain_mailbox

    mailbox = Mailbox.objects.select_related("profile").filter(id=mailbox_id).first()
    if mailbox is None:
        logger.info("mailbox %s is gone; no Graph subscriptions to keep", mailbox_id)
        return "gone"
    summary = maintain_mailbox(mailbox)
    logger.info(
        "mailbox %s: Graph subscriptions %s made, %s renewed, %s deleted%s",
        mailbox_id,
        summary.created,
        summary.renewed,
        summary.deleted,
        f", failed: {', '.join(summary.failed)}" if summary.failed else "",
    )
    return "failed" if summary.failed else "ok"


@shared_task(name="mailboxes.tasks.delete_orphaned_graph_subscriptions", ignore_result=True)
def delete_orphaned_graph_subscriptions() -> int:
    """The subscriptions of deleted mailboxes, deleted at Graph and here."""
    from mailboxes.webhooks.subscriptions import delete_orphans

    deleted = delete_orphans()
    if deleted:
        logger.info("%s Graph subscription(s) of deleted mailboxes deleted", deleted)
    return deleted


@shared_task(name="mailboxes.tasks.graph_lifecycle_event", ignore_result=True)
def graph_lifecycle_event(subscription_pk: int, event: str) -> str:
    """A lifecycle notification the view accepted: reauthorize, or make the subscription
    again (https://learn.microsoft.com/graph/change-notifications-lifecycle-events)."""
    from mailboxes.models import GraphSubscription
    from mailboxes.webhooks import subscriptions

    row = (
        GraphSubscription.objects.select_related("mailbox__profile")
        .filter(pk=subscription_pk)
        .first()
    )
    if row is None or row.mailbox is None:
        logger.info("Graph subscription row %s is gone; %s ignored", subscription_pk, event)
        return "gone"
    try:
        if event == "reauthorizationRequired":
            subscriptions.reauthorize(row)
        elif event == "subscriptionRemoved":
            subscriptions.removed(row)
    except SyncError as exc:
        # Beat's upkeep renews or makes it again later; polling covers the mailbox meanwhile.
        logger.warning("Graph subscription row %s: %s not handled: %s", row.pk, event, exc.code)
        return "failed"
    return event
