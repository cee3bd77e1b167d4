"""The Graph notification view on its own: the validation handshake, change notifications
checked against the stored clientState, coalesced dispatches, lifecycle events, and a
notification during a cycle that makes the mailbox due again when the cycle ends."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailboxes.models import GraphSubscription, Mailbox
from mailboxes.sync import scheduling
from mailboxes.webhooks.plan import rerun_if_notified
from tests import factories
from tests.webhooks.conftest import Enqueued

# transaction=True: the view enqueues on commit, as in production
pytestmark = pytest.mark.django_db(transaction=True)
URL = "/graph/notifications/"
SECRET = "the-client-state-of-this-subscription"


def subscription(**fields: Any) -> GraphSubscription:
    if "mailbox" not in fields:
        profile = factories.make_profile(server_type="microsoft_365")
        fields["profile"] = profile
        fields["mailbox"] = factories.make_mailbox(
            profile=profile,
            approval_status=Mailbox.ApprovalStatus.APPROVED,
            next_due_at=timezone.now() + timedelta(hours=2),
        )
    n = GraphSubscription.objects.count() + 1
    fields.setdefault("key", f"inbox{n}")
    fields.setdefault("resource", "users/x/mailFolders('inbox')/messages")
    fields.setdefault("subscription_id", f"sub-{n}")
    fields.setdefault("client_state", SECRET)
    fields.setdefault("notification_url", "https://crm.example.com/graph/notifications/")
    fields.setdefault("expires_at", timezone.now() + timedelta(days=3))
    return GraphSubscription.objects.create(**fields)


def owner(sub: GraphSubscription) -> int:
    assert sub.mailbox_id is not None
    return sub.mailbox_id


def notify(client: Client, *items: dict[str, Any]) -> Any:
    return client.post(URL, json.dumps({"value": list(items)}), content_type="application/json")


def change(sub: GraphSubscription, client_state: str = SECRET) -> dict[str, Any]:
    return {
        "subscriptionId": sub.subscription_id,
        "changeType": "created",
        "resource": "Users/x/Messages/AAMk",
        "resourceData": {"id": "AAMk"},
        "clientState": client_state,
        "tenantId": "t",
    }


def test_the_url_is_the_view() -> None:
    assert reverse("graph-notifications") == URL


def test_validation_handshake_echoes_the_token_as_plain_text() -> None:
    token = "Validation: Testing client application reachability <b>&amp;</b>"
    answer = Client().post(f"{URL}?validationToken={token.replace('&', '%26')}")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/plain; charset=utf-8"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer.content.decode() == token


def test_only_post_without_login_or_csrf_token() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.get(f"{URL}?validationToken=abc").status_code == 405
    assert client.post(f"{URL}?validationToken=abc").status_code == 200


def test_a_body_that_is_not_a_notification_is_refused() -> None:
    client = Client()
    assert client.post(URL, "not json", content_type="application/json").status_code == 400
    assert client.post(URL, "[1, 2]", content_type="application/json").status_code == 400


def test_a_change_makes_the_mailbox_due_and_dispatches_its_profile(
    enqueued: Enqueued,
) -> None:
    sub = subscription()
    answer = notify(Client(), change(sub))
    assert answer.status_code == 202
    sub.refresh_from_db()
    mailbox = Mailbox.objects.get(pk=owner(sub))
    assert mailbox.next_due_at is not None and mailbox.next_due_at <= timezone.now()
    assert sub.last_notification_at is not None
    assert enqueued["dispatch"] == [(mailbox.profile_id,)]
    assert scheduling.claim_due_mailboxes(profile_id=mailbox.profile_id)[0].mailbox_id == (
        mailbox.pk
    )


def test_a_burst_enqueues_one_dispatch(enqueued: Enqueued) -> None:
    sub = subscription()
    client = Client()
    for _ in range(5):
        assert notify(client, change(sub), change(sub)).status_code == 202
    assert len(enqueued["dispatch"]) == 1


def test_a_wrong_client_state_is_ignored_and_not_logged(
    enqueued: Enqueued, caplog: pytest.LogCaptureFixture
) -> None:
    sub = subscription()
    due_before = Mailbox.objects.get(pk=owner(sub)).next_due_at
    answer = notify(Client(), change(sub, client_state="guessed-secret"))
    assert answer.status_code == 202  # Graph must not retry it
    assert Mailbox.objects.get(pk=owner(sub)).next_due_at == due_before
    assert enqueued["dispatch"] == []
    assert "wrong clientState" in caplog.text
    assert "guessed-secret" not in caplog.text and SECRET not in caplog.text


def test_a_missing_client_state_or_unknown_subscription_is_ignored(
    enqueued: Enqueued,
) -> None:
    sub = subscription()
    unknown = {**change(sub), "subscriptionId": "not-ours"}
    missing = {k: v for k, v in change(sub).items() if k != "clientState"}
    assert notify(Client(), unknown, missing).status_code == 202
    assert enqueued["dispatch"] == []
    sub.refresh_from_db()
    assert sub.last_notification_at is None


def test_a_mailbox_in_error_back_off_is_not_pulled_forward(
    enqueued: Enqueued,
) -> None:
    sub = subscription()
    later = timezone.now() + timedelta(minutes=10)
    Mailbox.objects.filter(pk=owner(sub)).update(transient_failure_count=1, next_due_at=later)
    assert notify(Client(), change(sub)).status_code == 202
    assert Mailbox.objects.get(pk=owner(sub)).next_due_at == later
    assert enqueued["dispatch"] == []


def test_missed_makes_the_mailbox_due_and_others_go_to_a_task(
    enqueued: Enqueued,
) -> None:
    sub = subscription()
    other = subscription()
    events = [
        {"subscriptionId": sub.subscription_id, "clientState": SECRET, "lifecycleEvent": e}
        for e in ("missed", "reauthorizationRequired")
    ]
    removed = {
        "subscriptionId": other.subscription_id,
        "clientState": SECRET,
        "lifecycleEvent": "subscriptionRemoved",
    }
    wrong = {**removed, "clientState": "nope"}
    assert notify(Client(), *events, removed, wrong).status_code == 202
    mailbox = Mailbox.objects.get(pk=owner(sub))
    assert mailbox.next_due_at is not None and mailbox.next_due_at <= timezone.now()
    assert enqueued["dispatch"] == [(mailbox.profile_id,)]
    assert enqueued["lifecycle"] == [
        (sub.pk, "reauthorizationRequired"),
        (other.pk, "subscriptionRemoved"),
    ]


def test_a_notification_during_a_cycle_makes_it_due_when_the_cycle_ends(
    enqueued: Enqueued,
) -> None:
    sub = subscription()
    claim = scheduling.claim_mailbox(owner(sub))
    assert claim is not None
    started = timezone.now()
    later = started + timedelta(hours=1)
    assert notify(Client(), change(sub)).status_code == 202  # while the cycle runs
    scheduling.release_claim(claim, next_due_at=rerun_if_notified(owner(sub), started, later))
    due = Mailbox.objects.get(pk=owner(sub)).next_due_at
    assert due is not None and due <= timezone.now()


def test_without_a_notification_the_cycle_keeps_its_next_run() -> None:
    sub = subscription(last_notification_at=timezone.now() - timedelta(minutes=1))
    claim = scheduling.claim_mailbox(owner(sub))
    assert claim is not None
    started = timezone.now()
    later = started + timedelta(hours=1)
    scheduling.release_claim(claim, next_due_at=rerun_if_notified(owner(sub), started, later))
    assert Mailbox.objects.get(pk=owner(sub)).next_due_at == later


def test_the_admin_shows_a_subscription_but_never_its_client_state(staff_client: Client) -> None:
    sub = subscription()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_state FROM mailboxes_graphsubscription WHERE id = %s", [sub.pk]
        )
        (ciphertext,) = cursor.fetchone()

    html = staff_client.get(
        reverse("admin:mailboxes_graphsubscription_change", args=[sub.pk])
    ).content.decode()

    assert sub.subscription_id in html
    assert SECRET not in html and ciphertext not in html


def test_a_notification_of_a_deleted_mailbox_is_ignored(enqueued: Enqueued) -> None:
    sub = subscription()
    Mailbox.objects.filter(pk=owner(sub)).delete()

    response = notify(Client(), change(sub))

    assert response.status_code == 202
    assert enqueued["dispatch"] == []
    sub.refresh_from_db()
    assert sub.mailbox_id is None and sub.profile_id is not None  # beat deletes it at Graph
