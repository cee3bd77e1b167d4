"""Subscriptions made, renewed and deleted at the emulator's Graph, whose notifications reach
the notification view of a live crmsync server on loopback: a change in Exchange makes the
mailbox due; lifecycle events; a dropped notification."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from crmsync.choices import ActDeliveryMethod
from mailboxes import channels
from mailboxes.models import GraphSubscription, Mailbox
from mailboxes.sync import scheduling
from mailboxes.webhooks import plan, subscriptions
from mailboxes.webhooks.subscriptions import maintain_mailbox
from tests import factories
from tests.webhooks.conftest import Enqueued, is_due, wait_for

pytestmark = pytest.mark.e2e

MESSAGE = (
    b"From: Carol <carol@example.org>\r\nTo: someone@example.com\r\n"
    b"Subject: pushed\r\nMessage-ID: <pushed-%d@example.org>\r\n\r\nHello\r\n"
)


@pytest.fixture
def mailbox(m365: Any, notification_url: str, transactional_db: None) -> Mailbox:
    """A Graph mailbox pulling email, appointments, contacts and tasks, not due for an hour."""
    return m365.mailbox(
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
        next_due_at=timezone.now() + timedelta(hours=1),
    )


def at_graph(m365: Any) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in m365.tenant.control.graph_subscriptions()}


def expected_keys(mailbox: Mailbox) -> set[str]:
    """Email always; appointments, contacts and tasks where the ACT channel runs on Graph."""
    act = {"events", "contacts", "tasks"} if channels.ACT.is_configured(mailbox) else set()
    return {"inbox", "sentitems", *act}


def test_beat_subscribes_every_watched_folder_with_a_secret_client_state(
    mailbox: Mailbox, m365: Any, notification_url: str, enqueued: Enqueued
) -> None:
    summary = maintain_mailbox(mailbox)

    rows = {row.key: row for row in GraphSubscription.objects.filter(mailbox=mailbox)}
    assert summary.created == len(expected_keys(mailbox)) and not summary.failed
    assert set(rows) == expected_keys(mailbox)
    graph = at_graph(m365)
    address = mailbox.email_address
    resources = {
        "inbox": f"users/{address}/mailFolders('inbox')/messages",
        "sentitems": f"users/{address}/mailFolders('sentitems')/messages",
        "events": f"users/{address}/events",
        "contacts": f"users/{address}/contacts",
    }
    for key, row in rows.items():
        sub = graph[row.subscription_id]
        if key == "tasks":
            assert sub["resource"].startswith(f"users/{address}/todo/lists/")
        else:
            assert sub["resource"] == row.resource == resources[key]
        assert sub["changeType"] == "created,updated,deleted"
        assert sub["notificationUrl"] == sub["lifecycleNotificationUrl"] == notification_url
        assert sub["clientState"] == row.client_state and len(row.client_state) >= 64
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_state FROM mailboxes_graphsubscription")
        stored = {value for (value,) in cursor.fetchall()}
    assert not stored & {row.client_state for row in rows.values()}  # encrypted at rest
    # Changes made before Graph notified are picked up: the new subscriptions made it due.
    assert is_due(mailbox.pk)
    assert enqueued["dispatch"] == [(mailbox.profile_id,)]
    assert subscriptions.mailboxes_to_maintain(timezone.now()) == []


def test_a_tracking_folder_is_watched_while_it_is_tracked(mailbox: Mailbox, m365: Any) -> None:
    client = subscriptions.client_for(mailbox)
    folder = client.post("mailFolders/inbox/childFolders", {"displayName": "Projects"})
    assert folder is not None
    tracked = factories.make_tracking_folder(
        mailbox=mailbox, exchange_folder_id=folder["id"], exchange_folder_name="Projects"
    )
    maintain_mailbox(mailbox)
    row = GraphSubscription.objects.get(mailbox=mailbox, key=f"folder:{folder['id']}")
    assert at_graph(m365)[row.subscription_id]["resource"].endswith(
        f"/mailFolders('{folder['id']}')/messages"
    )

    tracked.delete()
    assert subscriptions.mailboxes_to_maintain(timezone.now()) == [mailbox.pk]
    summary = maintain_mailbox(mailbox)

    assert summary.deleted == 1
    assert not GraphSubscription.objects.filter(pk=row.pk).exists()
    assert row.subscription_id not in at_graph(m365)


def test_a_change_in_exchange_reaches_the_live_view_and_makes_the_mailbox_due(
    mailbox: Mailbox, m365: Any, enqueued: Enqueued
) -> None:
    maintain_mailbox(mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=timezone.now() + timedelta(hours=1))
    enqueued["dispatch"].clear()

    m365.tenant.control.deliver(mailbox.email_address, MESSAGE % 1)

    assert wait_for(lambda: is_due(mailbox.pk))
    inbox = GraphSubscription.objects.get(mailbox=mailbox, key="inbox")
    assert inbox.last_notification_at is not None
    assert enqueued["dispatch"] == [(mailbox.profile_id,)]
    claims = scheduling.claim_due_mailboxes(profile_id=mailbox.profile_id)
    assert [claim.mailbox_id for claim in claims] == [mailbox.pk]
    delivered = {s["id"]: s["delivered"] for s in m365.tenant.control.graph_subscriptions()}
    assert delivered[inbox.subscription_id] >= 1


def test_renewed_once_half_the_lifetime_has_passed(mailbox: Mailbox, m365: Any) -> None:
    maintain_mailbox(mailbox)
    row = GraphSubscription.objects.get(mailbox=mailbox, key="inbox")
    soon = timezone.now() + timedelta(days=3)  # 7 days asked: less than half is left
    GraphSubscription.objects.filter(pk=row.pk).update(expires_at=soon)
    fresh = GraphSubscription.objects.get(mailbox=mailbox, key="sentitems")

    summary = maintain_mailbox(mailbox)

    assert (summary.renewed, summary.created, summary.deleted) == (1, 0, 0)
    row.refresh_from_db()
    assert row.expires_at > timezone.now() + timedelta(days=6)
    assert row.renewed_at is not None
    graph_expiry = at_graph(m365)[row.subscription_id]["expirationDateTime"]
    assert graph_expiry.startswith(row.expires_at.strftime("%Y-%m-%dT%H:%M"))
    assert GraphSubscription.objects.get(pk=fresh.pk).renewed_at is None
    assert subscriptions.mailboxes_to_maintain(timezone.now()) == []


def test_to_do_tasks_live_at_most_4230_minutes(mailbox: Mailbox) -> None:
    if not channels.ACT.is_configured(mailbox):
        pytest.skip("the appointments/contacts/tasks channel does not run on Graph yet")
    maintain_mailbox(mailbox)
    tasks = GraphSubscription.objects.get(mailbox=mailbox, key="tasks")
    events = GraphSubscription.objects.get(mailbox=mailbox, key="events")
    assert tasks.expires_at < timezone.now() + timedelta(minutes=plan.TODO_MAX_MINUTES)
    assert events.expires_at > timezone.now() + timedelta(minutes=plan.TODO_MAX_MINUTES)


def test_one_graph_forgot_or_that_expired_is_made_again(mailbox: Mailbox, m365: Any) -> None:
    maintain_mailbox(mailbox)
    gone = GraphSubscription.objects.get(mailbox=mailbox, key="inbox")
    expired = GraphSubscription.objects.get(mailbox=mailbox, key="sentitems")
    client = subscriptions.client_for(mailbox)
    client.delete(subscriptions.subscriptions_url(client, gone.subscription_id))
    GraphSubscription.objects.filter(pk=gone.pk).update(
        expires_at=timezone.now() + timedelta(hours=1)
    )
    GraphSubscription.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    summary = maintain_mailbox(mailbox)

    assert summary.created == 2 and not summary.failed
    rows = {row.key: row for row in GraphSubscription.objects.filter(mailbox=mailbox)}
    graph = at_graph(m365)
    assert rows["inbox"].subscription_id != gone.subscription_id
    assert rows["sentitems"].subscription_id != expired.subscription_id
    assert {rows["inbox"].subscription_id, rows["sentitems"].subscription_id} <= graph.keys()


def test_without_a_notification_url_every_one_is_deleted_at_graph(
    mailbox: Mailbox, m365: Any, settings: Any
) -> None:
    maintain_mailbox(mailbox)
    assert GraphSubscription.objects.filter(mailbox=mailbox).exists()
    settings.CRMSYNC_GRAPH_NOTIFICATION_URL = ""

    assert subscriptions.mailboxes_to_maintain(timezone.now()) == [mailbox.pk]
    summary = maintain_mailbox(mailbox)

    assert summary.deleted == len(expected_keys(mailbox)) and summary.created == 0
    assert not GraphSubscription.objects.filter(mailbox=mailbox).exists()
    mine = [s for s in at_graph(m365).values() if mailbox.email_address in s["resource"]]
    assert mine == []


def test_lifecycle_events_reach_the_view_and_are_handled(
    mailbox: Mailbox, m365: Any, enqueued: Enqueued
) -> None:
    from mailboxes.webhooks.tasks import graph_lifecycle_event

    maintain_mailbox(mailbox)
    control = m365.tenant.control
    reauthorized = GraphSubscription.objects.get(mailbox=mailbox, key="inbox")
    removed = GraphSubscription.objects.get(mailbox=mailbox, key="sentitems")
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=timezone.now() + timedelta(hours=1))

    assert control.send_lifecycle(reauthorized.subscription_id, "reauthorizationRequired")
    assert control.send_lifecycle(removed.subscription_id, "subscriptionRemoved")
    assert enqueued["lifecycle"] == [
        (reauthorized.pk, "reauthorizationRequired"),
        (removed.pk, "subscriptionRemoved"),
    ]
    assert not is_due(mailbox.pk)  # only `missed` makes it due at once

    assert graph_lifecycle_event(reauthorized.pk, "reauthorizationRequired") == (
        "reauthorizationRequired"
    )
    assert graph_lifecycle_event(removed.pk, "subscriptionRemoved") == "subscriptionRemoved"
    remade = GraphSubscription.objects.get(mailbox=mailbox, key="sentitems")
    assert remade.subscription_id != removed.subscription_id
    assert remade.subscription_id in at_graph(m365)
    assert (
        GraphSubscription.objects.get(pk=reauthorized.pk).subscription_id
        == reauthorized.subscription_id
    )
    times = {s["id"]: s["reauthorized"] for s in control.graph_subscriptions()}
    assert times[reauthorized.subscription_id] == 1  # Graph was asked to reauthorize it
    assert is_due(mailbox.pk)  # changes while it was removed were not notified

    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=timezone.now() + timedelta(hours=1))
    assert control.send_lifecycle(reauthorized.subscription_id, "missed")
    assert wait_for(lambda: is_due(mailbox.pk))


def test_a_dropped_notification_is_covered(mailbox: Mailbox, m365: Any) -> None:
    maintain_mailbox(mailbox)
    inbox = GraphSubscription.objects.get(mailbox=mailbox, key="inbox")
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=timezone.now() + timedelta(hours=1))
    control = m365.tenant.control
    control.inject_graph_fault(
        "graph_drop_notification", path=inbox.resource, mailbox=mailbox.email_address
    )

    control.deliver(mailbox.email_address, MESSAGE % 2)

    # Graph lost the change notification and says so with a `missed` lifecycle event.
    assert wait_for(lambda: is_due(mailbox.pk))
    dropped = {s["id"]: s["dropped"] for s in control.graph_subscriptions()}
    assert dropped[inbox.subscription_id] == 1


def test_the_idle_poll_is_longer_only_while_live_subscriptions_cover_the_mailbox(
    mailbox: Mailbox, settings: Any
) -> None:
    now = timezone.now()
    short = timedelta(minutes=5)
    assert plan.idle_delay(mailbox, now, short) == short  # no subscriptions yet
    maintain_mailbox(mailbox)
    assert plan.idle_delay(mailbox, now, short) == timedelta(
        minutes=settings.CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES
    )
    assert plan.idle_delay(mailbox, now, timedelta(hours=4)) == timedelta(hours=4)
    GraphSubscription.objects.filter(mailbox=mailbox, key="inbox").update(
        expires_at=now - timedelta(seconds=1)
    )
    assert plan.idle_delay(mailbox, now, short) == short


def test_beat_enqueues_the_upkeep_of_each_mailbox_that_needs_it(
    mailbox: Mailbox, m365: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailboxes.webhooks import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.maintain_graph_subscriptions_of, "delay", queued.append)
    other = m365.mailbox()  # its subscriptions are all live: nothing to do
    maintain_mailbox(other)

    assert tasks.maintain_graph_subscriptions() == 1
    assert queued == [mailbox.pk]
    assert tasks.maintain_graph_subscriptions_of(mailbox.pk) == "ok"
    assert set(
        GraphSubscription.objects.filter(mailbox=mailbox).values_list("key", flat=True)
    ) == expected_keys(mailbox)


def test_the_subscriptions_of_a_deleted_mailbox_are_deleted_at_graph_by_beat(
    mailbox: Mailbox, m365: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailboxes.webhooks import tasks

    maintain_mailbox(mailbox)
    ids = set(
        GraphSubscription.objects.filter(mailbox=mailbox).values_list("subscription_id", flat=True)
    )
    assert ids and ids <= at_graph(m365).keys()

    Mailbox.objects.filter(pk=mailbox.pk).delete()
    assert GraphSubscription.objects.filter(subscription_id__in=ids, mailbox=None).count() == len(
        ids
    )
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        tasks.delete_orphaned_graph_subscriptions, "delay", lambda *a: queued.append(a)
    )
    tasks.maintain_graph_subscriptions()
    assert queued == [()]
    assert tasks.delete_orphaned_graph_subscriptions() == len(ids)

    assert not GraphSubscription.objects.filter(subscription_id__in=ids).exists()
    assert not ids & at_graph(m365).keys()


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The sync tasks dispatches enqueue, recorded instead of sent."""
    from mailboxes import tasks

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.sync_mailbox, "delay", lambda *args: sent.append(args))
    return sent


def test_a_notification_posted_to_the_live_view_brings_the_email_to_the_crm(
    mailbox: Mailbox, m365: Any, enqueued: Enqueued, syncs: list[tuple[Any, ...]]
) -> None:
    """The whole path of a push to an idle mailbox: a message arrives in Exchange, Graph
    posts its notification to the live server's view, the view enqueues the dispatch of the
    mailbox's profile, the dispatch claims the mailbox and enqueues its sync, and the sync
    files the email in the CRM. The tasks run here, as a worker runs them."""
    from activities.models import Email
    from mailboxes import tasks
    from mailboxes.sync.cycle import run_cycle

    Mailbox.objects.filter(pk=mailbox.pk).update(tracking_option=Mailbox.TrackingOption.ALL)
    maintain_mailbox(mailbox)
    run_cycle(mailbox.pk)  # its first cycle; idle now, its next poll far away
    assert not is_due(mailbox.pk)
    enqueued["dispatch"].clear()

    m365.tenant.control.deliver(mailbox.email_address, MESSAGE % 2)

    assert wait_for(lambda: bool(enqueued["dispatch"]))
    assert enqueued["dispatch"] == [(mailbox.profile_id,)]
    assert tasks.dispatch_due_mailboxes(*enqueued["dispatch"][0]) == 1
    [(mailbox_id, claim_token)] = syncs
    assert mailbox_id == mailbox.pk
    assert tasks.sync_mailbox(mailbox_id, claim_token) == "ran"
    assert Email.objects.get(message_id="<pushed-2@example.org>").subject == "pushed"


def test_a_notification_during_a_cycle_brings_the_email_to_the_crm_after_it(
    mailbox: Mailbox,
    m365: Any,
    enqueued: Enqueued,
    syncs: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message that arrives while the mailbox is synced, after the cycle's reads: the view
    enqueues no dispatch (the mailbox is claimed, due already), the cycle ends with the
    mailbox due again, and the worker's dispatch as it finishes enqueues the sync that files
    the email."""
    from activities.models import Email
    from mailboxes import tasks
    from mailboxes.sync import cycle

    Mailbox.objects.filter(pk=mailbox.pk).update(
        tracking_option=Mailbox.TrackingOption.ALL, next_due_at=timezone.now()
    )
    maintain_mailbox(mailbox)
    inbox = GraphSubscription.objects.get(mailbox=mailbox, key="inbox")
    run_channels = cycle._run_channels

    def arriving_meanwhile(*args: Any, **kwargs: Any) -> Any:
        outcome = run_channels(*args, **kwargs)
        monkeypatch.setattr(cycle, "_run_channels", run_channels)
        m365.tenant.control.deliver(mailbox.email_address, MESSAGE % 3)
        assert wait_for(
            lambda: GraphSubscription.objects.filter(
                pk=inbox.pk, last_notification_at__isnull=False
            ).exists()
        )
        return outcome

    monkeypatch.setattr(cycle, "_run_channels", arriving_meanwhile)
    enqueued["dispatch"].clear()
    assert tasks.dispatch_due_mailboxes(mailbox.profile_id) == 1
    [(mailbox_id, claim_token)] = syncs
    assert tasks.sync_mailbox(mailbox_id, claim_token) == "ran"
    assert enqueued["dispatch"] == []
    assert not Email.objects.filter(message_id="<pushed-3@example.org>").exists()

    [_, (mailbox_id, claim_token)] = syncs  # the finishing worker's dispatch
    assert tasks.sync_mailbox(mailbox_id, claim_token) == "ran"
    assert Email.objects.get(message_id="<pushed-3@example.org>").subject == "pushed"
