"""What a Graph mailbox's subscriptions watch, decided from the database alone (no Graph
call): the cycle reads it to know whether webhooks cover the mailbox, beat to know what to
subscribe.

One subscription per watched folder (Graph notifies changes of one resource each):

- incoming email: the Inbox, Sent Items and every tracking folder (`mailFolders('…')/messages`);
- appointments: `events` (the default calendar, the one the engine syncs);
- contacts: `contacts` (the default contacts folder);
- tasks: the default To Do list's `tasks` (its id is looked up when subscribing).

Only item types pulled from Exchange are watched (a CRM → Exchange only type needs no
notification). Maximum lifetimes are Graph's: 10,080 minutes for messages, events and
contacts, 4,230 for To Do tasks (https://learn.microsoft.com/graph/api/resources/subscription
#subscription-lifetime).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, Exists, Q, Value, When
from django.db.models.expressions import Combinable
from django.utils import timezone

from mailboxes import channels
from mailboxes.models import FolderSyncState, GraphSubscription, ItemType, Mailbox
from mailboxes.sync import eligibility
from profiles.models import EmailServerProfile

GRAPH_SERVER_TYPE = EmailServerProfile.ServerType.MICROSOFT_365
OUTLOOK_MAX_MINUTES = 10080
TODO_MAX_MINUTES = 4230
TASKS_KEY = "tasks"


@dataclass(frozen=True)
class Watch:
    key: str
    # The resource path relative to the mailbox ("mailFolders('inbox')/messages"); the To Do
    # list's id is only known to Graph, so `tasks` has none until subscribed.
    resource: str | None
    max_minutes: int


@dataclass(frozen=True)
class Plan:
    watches: tuple[Watch, ...]
    # Every folder the mailbox pulls is watched; False when it pulls more than one contacts
    # folder or task list (only the defaults are watched), so polling keeps its usual pace.
    complete: bool

    @property
    def keys(self) -> set[str]:
        return {watch.key for watch in self.watches}


NOTHING = Plan((), complete=False)


def webhooks_enabled() -> bool:
    return bool(settings.CRMSYNC_GRAPH_NOTIFICATION_URL)


def is_graph(mailbox: Mailbox) -> bool:
    profile = mailbox.profile
    return profile is not None and profile.server_type == GRAPH_SERVER_TYPE


def _mail_folder(key: str, folder: str) -> Watch:
    quoted = folder.replace("'", "''")  # OData string literal
    return Watch(key, f"mailFolders('{quoted}')/messages", OUTLOOK_MAX_MINUTES)


def plan_for(mailbox: Mailbox) -> Plan:
    """The subscriptions the mailbox should hold now (none without a notification URL, for
    a mailbox that is not on Graph or may not connect)."""
    if not webhooks_enabled() or not is_graph(mailbox) or not eligibility.may_connect(mailbox):
        return NOTHING
    watches: list[Watch] = []
    complete = True
    if channels.INCOMING.is_configured(mailbox):
        watches += [_mail_folder("inbox", "inbox"), _mail_folder("sentitems", "sentitems")]
        for folder_id in mailbox.tracking_folders.values_list("exchange_folder_id", flat=True):
            watches.append(_mail_folder(f"folder:{folder_id}", folder_id))
    if channels.ACT.is_configured(mailbox):
        pulled = set(
            mailbox.sync_options.filter(is_enabled=True, exchange_to_crm=True).values_list(
                "item_type", flat=True
            )
        )
        if ItemType.APPOINTMENT in pulled:
            watches.append(Watch("events", "events", OUTLOOK_MAX_MINUTES))
        if ItemType.CONTACT in pulled:
            watches.append(Watch("contacts", "contacts", OUTLOOK_MAX_MINUTES))
            complete = complete and _folders_pulled(mailbox, ItemType.CONTACT) <= 1
        if ItemType.TASK in pulled:
            watches.append(Watch(TASKS_KEY, None, TODO_MAX_MINUTES))
            complete = complete and _folders_pulled(mailbox, ItemType.TASK) <= 1
    return Plan(tuple(watches), complete=complete)


def _folders_pulled(mailbox: Mailbox, item_type: str) -> int:
    return FolderSyncState.objects.filter(mailbox=mailbox, item_type=item_type).count()


def webhooks_live(mailbox: Mailbox, now: datetime) -> bool:
    """Live subscriptions watch everything the mailbox pulls: an idle mailbox may then be
    polled less often (CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES)."""
    plan = plan_for(mailbox)
    if not plan.watches or not plan.complete:
        return False
    live = set(
        GraphSubscription.objects.filter(
            mailbox=mailbox,
            expires_at__gt=now,
            notification_url=settings.CRMSYNC_GRAPH_NOTIFICATION_URL,
        ).values_list("key", flat=True)
    )
    return plan.keys <= live


def idle_delay(mailbox: Mailbox, now: datetime, delay: timedelta) -> timedelta:
    """An idle mailbox's wait: while webhooks cover it, at least
    CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES (a change arrives as a notification; this poll only
    catches notifications Graph lost without a `missed` event). Never shorter than `delay`,
    the usual idle back-off."""
    if not is_graph(mailbox) or not webhooks_live(mailbox, now):
        return delay
    return max(delay, timedelta(minutes=settings.CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES))


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
