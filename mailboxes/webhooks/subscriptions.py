"""Beat's part of push: create, renew and delete the Graph subscriptions of every Graph
mailbox so that they match `plan.plan_for` (https://learn.microsoft.com/graph/api/resources/
subscription).

- A subscription lives at most Graph's maximum lifetime (`plan.Watch.max_minutes`); it is
  asked for that minus a margin, and renewed (PATCH) once half of it has passed, so beat
  (every 5 minutes) renews it days before it expires. One that is gone at Graph (404) or
  expired is made again.
- Every subscription has its own random `clientState` (kept encrypted) and the same URL for
  change and lifecycle notifications.
- A mailbox that no longer wants one (no notification URL, another profile, a folder no
  longer tracked, a mailbox that may not connect) has it deleted at Graph and here, with the
  application of the profile it was made with (`GraphSubscription.profile`).
- A deleted mailbox leaves its rows behind (without a mailbox): beat deletes them at Graph
  and here (`delete_orphans`), else Graph would notify of the mailbox until they expire.
- Subscriptions made for a mailbox make it due at once: changes made before Graph started
  notifying are then picked up by the delta sync.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.graph.errors import ItemNotFound
from mailboxes.connectors.settings import graph_settings
from mailboxes.models import GraphSubscription, Mailbox
from mailboxes.sync.errors import SyncError
from mailboxes.webhooks import plan as planning
from mailboxes.webhooks.due import dispatch_now
from profiles.models import EmailServerProfile

logger = logging.getLogger(__name__)

# Asked for this much less than Graph's maximum, so that clock skew never exceeds it.
LIFETIME_MARGIN = timedelta(minutes=15)
CHANGE_TYPES = "created,updated,deleted"


@dataclass
class Summary:
    created: int = 0
    renewed: int = 0
    deleted: int = 0
    failed: list[str] = field(default_factory=list)


def lifetime(watch: planning.Watch) -> timedelta:
    return timedelta(minutes=watch.max_minutes) - LIFETIME_MARGIN


def renew_due(row: GraphSubscription, watch: planning.Watch, now: datetime) -> bool:
    """Half of the lifetime has passed."""
    return row.expires_at - now < lifetime(watch) / 2


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def subscriptions_url(client: GraphClient, subscription_id: str = "") -> str:
    """/subscriptions is not below the mailbox's /users/{id}/: an absolute URL."""
    root = client.settings.endpoint.rstrip("/")
    return f"{root}/subscriptions/{subscription_id}".rstrip("/")


def _default_todo_list(client: GraphClient) -> str:
    page = client.get("todo/lists")
    for item in page.get("value") or []:
        if item.get("wellknownListName") == "defaultList":
            return str(item["id"])
    raise LookupError("the mailbox has no default To Do list")


def _resource(client: GraphClient, mailbox: Mailbox, watch: planning.Watch) -> str:
    relative = watch.resource
    if relative is None:  # the default To Do list's tasks
        relative = f"todo/lists/{_default_todo_list(client)}/tasks"
    return f"users/{mailbox.email_address}/{relative}"


def create(
    client: GraphClient, mailbox: Mailbox, watch: planning.Watch, now: datetime
) -> GraphSubscription:
    url = settings.CRMSYNC_GRAPH_NOTIFICATION_URL
    resource = _resource(client, mailbox, watch)
    state = secrets.token_urlsafe(48)  # Graph allows 128 characters
    answer = (
        client.post(
            subscriptions_url(client),
            {
                "changeType": CHANGE_TYPES,
                "notificationUrl": url,
                "lifecycleNotificationUrl": url,
                "resource": resource,
                "expirationDateTime": _graph_time(now + lifetime(watch)),
                "clientState": state,
            },
        )
        or {}
    )
    row, _ = GraphSubscription.objects.update_or_create(
        mailbox=mailbox,
        key=watch.key,
        defaults={
            "resource": resource,
            "profile": mailbox.profile,
            "subscription_id": str(answer["id"]),
            "client_state": state,
            "notification_url": url,
            "expires_at": _parsed(answer.get("expirationDateTime")) or now + lifetime(watch),
            "renewed_at": None,
        },
    )
    logger.info("mailbox %s: Graph subscription %s made (%s)", mailbox.pk, row.pk, watch.key)
    return row


def renew(
    client: GraphClient, row: GraphSubscription, watch: planning.Watch, now: datetime
) -> None:
    answer = client.patch(
        subscriptions_url(client, row.subscription_id),
        {"expirationDateTime": _graph_time(now + lifetime(watch))},
    )
    row.expires_at = _parsed(answer.get("expirationDateTime")) or now + lifetime(watch)
    row.renewed_at = now
    row.save(update_fields=["expires_at", "renewed_at"])


def delete(client: GraphClient | None, row: GraphSubscription) -> None:
    """At Graph (best effort: one Graph forgot is ignored there once it expires), then here.
    Without the mailbox's client (its profile is no longer Graph's, or it was deleted), with
    the application the subscription was made with, unless it has expired."""
    if client is None and row.expires_at > timezone.now():
        client = _client_of_maker(row)
    if client is not None:
        try:
            client.delete(subscriptions_url(client, row.subscription_id))
        except SyncError as exc:
            logger.info("Graph subscription %s not deleted at Graph: %s", row.pk, exc.code)
    row.delete()


def _client_of_maker(row: GraphSubscription) -> GraphClient | None:
    """A client of the application that made the subscription, for the mailbox of its
    resource (`users/{address}/...`); None when that profile is gone or not Graph's."""
    profile = (
        EmailServerProfile.objects.filter(pk=row.profile_id).first() if row.profile_id else None
    )
    address = row.resource.removeprefix("users/").split("/", 1)[0]
    if profile is None or not profile.is_graph or not address:
        return None
    try:
        return GraphClient(graph_settings(profile, Mailbox(email_address=address)))
    except SyncError as exc:
        logger.info("Graph subscription %s: no client to delete it (%s)", row.pk, exc.code)
        return None


def orphans_exist() -> bool:
    return GraphSubscription.objects.filter(mailbox__isnull=True).exists()


def delete_orphans() -> int:
    """Delete at Graph and here the subscriptions of deleted mailboxes; how many."""
    deleted = 0
    for row in GraphSubscription.objects.filter(mailbox__isnull=True).order_by("pk"):
        delete(None, row)
        deleted += 1
    return deleted


def _parsed(value: object) -> datetime | None:
    """Graph's expirationDateTime (7 fractional digits; Python 3.11 reads at most 6)."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- Which mailboxes need beat's attention, and doing it --------------------------------


def mailboxes_to_maintain(now: datetime) -> list[int]:
    """Graph mailboxes whose subscriptions differ from their plan (missing, unwanted, made
    for another URL, expired, or half their lifetime gone): database only, no Graph call."""
    candidates = Mailbox.objects.filter(
        Q(profile__server_type=planning.GRAPH_SERVER_TYPE) | Q(graph_subscriptions__isnull=False)
    ).distinct()
    due = []
    for mailbox in candidates.select_related("profile"):
        if _needs_work(mailbox, now):
            due.append(mailbox.pk)
    return due


def _needs_work(mailbox: Mailbox, now: datetime) -> bool:
    wanted = {watch.key: watch for watch in planning.plan_for(mailbox).watches}
    rows = {row.key: row for row in GraphSubscription.objects.filter(mailbox=mailbox)}
    if wanted.keys() != rows.keys():
        return True
    url = settings.CRMSYNC_GRAPH_NOTIFICATION_URL
    return any(
        row.notification_url != url or renew_due(row, wanted[key], now) for key, row in rows.items()
    )


def client_for(mailbox: Mailbox) -> GraphClient:
    return GraphClient(graph_settings(mailbox.profile, mailbox))


def maintain_mailbox(
    mailbox: Mailbox, *, now: datetime | None = None, client: GraphClient | None = None
) -> Summary:
    """Bring the mailbox's subscriptions in line with its plan."""
    now = now or timezone.now()
    summary = Summary()
    wanted = {watch.key: watch for watch in planning.plan_for(mailbox).watches}
    rows = {row.key: row for row in GraphSubscription.objects.filter(mailbox=mailbox)}
    if not wanted and not rows:
        return summary
    if client is None and planning.is_graph(mailbox):
        try:
            client = client_for(mailbox)
        except SyncError as exc:
            summary.failed.append(f"client: {exc.code}")
    url = settings.CRMSYNC_GRAPH_NOTIFICATION_URL
    for key, row in list(rows.items()):
        if key not in wanted or row.notification_url != url or row.expires_at <= now:
            # An expired one is gone at Graph already; the others are deleted there.
            delete(client if row.expires_at > now else None, row)
            summary.deleted += 1
            del rows[key]
    if client is None:
        return summary
    made = False
    for key, watch in wanted.items():
        existing = rows.get(key)
        try:
            if existing is None:
                create(client, mailbox, watch, now)
                summary.created += 1
                made = True
            elif renew_due(existing, watch, now):
                try:
                    renew(client, existing, watch, now)
                    summary.renewed += 1
                except ItemNotFound:  # Graph no longer has it: make it again
                    existing.delete()
                    create(client, mailbox, watch, now)
                    summary.created += 1
                    made = True
        except (SyncError, LookupError) as exc:
            code = exc.code if isinstance(exc, SyncError) else "not_found"
            summary.failed.append(f"{key}: {code}")
            logger.warning(
                "mailbox %s: Graph subscription for %s not made or renewed (%s): %s",
                mailbox.pk,
                key,
                code,
                exc,
            )
            if isinstance(exc, SyncError) and not isinstance(exc, ItemNotFound):
                # Throttled, unreachable, credentials refused, our URL failing Graph's
                # validation: the same for the others; the next beat tries again.
                break
    if made:
        # Changes made before Graph started notifying are picked up by the delta sync.
        dispatch_now([mailbox.pk])
    return summary


def reauthorize(row: GraphSubscription) -> None:
    """A `reauthorizationRequired` lifecycle event: reauthorize, renew if due; make it
    again if Graph no longer has it (the task leaves out rows of deleted mailboxes)."""
    mailbox = row.mailbox
    assert mailbox is not None
    client = client_for(mailbox)
    try:
        client.post(subscriptions_url(client, row.subscription_id) + "/reauthorize")
    except ItemNotFound:
        row.delete()
    maintain_mailbox(mailbox, client=client)


def removed(row: GraphSubscription) -> None:
    """A `subscriptionRemoved` lifecycle event: Graph dropped it; make it again (which
    makes the mailbox due: changes meanwhile were not notified)."""
    mailbox = row.mailbox
    assert mailbox is not None
    row.delete()
    maintain_mailbox(mailbox)
    dispatch_now([mailbox.pk])
