"""One rule decides whether a mailbox may touch its mail server, end to end.

The attacks of issue 9, replayed with a real worker process, the EWS emulator behind a
profile whose service account impersonates every mailbox, the self-service pages, the
admin and the REST API: a user who types another person's address reaches nothing of that
mailbox; a rejected, turned-off mailbox is neither synced nor turned back on.
"""

import time
from collections.abc import Callable

import pytest
from django.test import Client
from rest_framework.test import APIClient

from activities.models import Appointment, Contact, Email, Task
from crmsync.choices import OutgoingDeliveryMethod
from ews_emulator.testing import EmulatorProcess
from mailboxes import tasks
from mailboxes.models import Mailbox
from mailboxes.tasks import dispatch_due_mailboxes, sync_mailbox
from profiles.models import EmailServerProfile
from tests.factories import make_superuser
from tests.sync.helpers import act_mailbox, exchange_profile, new_address
from tests.sync.workers import Workers
from tests.web.conftest import logged_in, settings_post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SERVICE_ACCOUNT = ("svc@example.com", "svc-secret")  # the session emulator's impersonator
CHANGELIST = "/admin/mailboxes/mailbox/"


def wait_for(condition: Callable[[], bool], workers: Workers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out\n{workers.output()[-4000:]}")
        time.sleep(0.2)


def handled(workers: Workers, mailbox: Mailbox, count: int = 1) -> Callable[[], bool]:
    """True once the worker logged `count` outcomes (synced or skipped) of the mailbox."""

    def done() -> bool:
        log = workers.output()
        return (
            log.count(f"mailbox {mailbox.pk} synced") + log.count(f"mailbox {mailbox.pk} skipped")
            >= count
        )

    return done


def impersonating_profile(ews: EmulatorProcess) -> EmailServerProfile:
    """One service account for every mailbox, acting as each (EWS impersonation)."""
    return exchange_profile(
        ews.ews_url,
        incoming_credential_retrieval=EmailServerProfile.CredentialRetrieval.PROFILE,
        incoming_use_impersonation=True,
        incoming_username=SERVICE_ACCOUNT[0],
        incoming_password=SERVICE_ACCOUNT[1],
    )


def messages_of(client: Client, response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


def an_administrator() -> Client:
    client = Client()
    client.force_login(make_superuser(username=f"admin-{new_address()}"))
    return client


def test_a_user_who_types_the_ceos_address_reaches_nothing_of_the_ceos_mailbox(
    ews: EmulatorProcess, workers: Workers
) -> None:
    # given the CEO's mailbox with appointments, contacts and tasks, and carol's approved
    # mailbox on the same impersonating profile, sending and syncing through Exchange
    profile = impersonating_profile(ews)
    ceo, carol_address = new_address("ceo"), new_address("carol")
    for address in (ceo, carol_address):
        ews.control.create_mailbox(address, "secret")
    ews.control.seed(ceo, "calendar", 3, fields={"Subject": "Board meeting"})
    ews.control.seed(ceo, "contacts", 2)
    ews.control.seed(ceo, "tasks", 2, fields={"Subject": "Confidential"})
    carol = act_mailbox(
        profile,
        email=carol_address,
        outgoing_delivery_method=OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
    )
    assert carol.user is not None
    ceo_calendar = len(ews.control.items(ceo, "calendar"))
    workers.start(1)

    # when carol changes her address to the CEO's on her self-service page
    page = logged_in(carol.user)
    url = f"/mailboxes/{carol.pk}/"
    saved = page.post(url, settings_post(carol, email_address=ceo), follow=True)
    assert "The new email address waits for an administrator's approval." in messages_of(
        page, saved
    )
    # and writes an email and an appointment through the API
    api = APIClient()
    api.force_authenticate(carol.user)
    sent = api.post(
        "/api/v1/emails/",
        {"subject": "Wire the money", "body_text": "Now.", "to": ["bank@example.com"]},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    booked = api.post(
        "/api/v1/appointments/",
        {"subject": "Planted", "start": "2030-05-04T10:00:00Z", "end": "2030-05-04T11:00:00Z"},
        format="json",
    )
    assert booked.status_code == 201, booked.content
    # and presses "Sync now"
    pressed = page.post(f"{url}sync/", follow=True)

    # then the page says why nothing is synchronized
    assert any(
        "Nothing was synchronized: its email address waits for an administrator's approval." in m
        for m in messages_of(page, pressed)
    )
    # and a worker asked anyway (a stale page, beat, the listener) does nothing either
    sync_mailbox.delay(carol.pk)
    dispatch_due_mailboxes.delay()
    wait_for(handled(workers, carol), workers)
    assert f"mailbox {carol.pk} synced" not in workers.output()
    # nothing of the CEO's mailbox reached the CRM
    assert not Appointment.objects.filter(subject__startswith="Board meeting").exists()
    assert not Task.objects.filter(subject__startswith="Confidential").exists()
    assert Contact.objects.filter(owner_user=carol.user).count() == 0
    # nothing was sent from it and no appointment landed in it
    assert ews.control.items(ceo, "sentitems") == []
    assert len(ews.control.items(ceo, "calendar")) == ceo_calendar
    assert Email.objects.get(pk=sent.json()["id"]).status == Email.Status.PENDING_SEND
    carol.refresh_from_db()
    assert (carol.email_address, carol.approval_status) == (ceo, "pending")
    assert carol.last_sync_started_at is None


def test_after_an_administrator_approves_a_new_address_it_syncs(
    ews: EmulatorProcess, workers: Workers
) -> None:
    # given dave's approved mailbox, whose address he changes to his new one
    profile = impersonating_profile(ews)
    old, new = new_address("dave"), new_address("dave.new")
    for address in (old, new):
        ews.control.create_mailbox(address, "secret")
    ews.control.seed(new, "contacts", 3)
    dave = act_mailbox(profile, email=old)
    assert dave.user is not None
    page = logged_in(dave.user)
    page.post(f"/mailboxes/{dave.pk}/", settings_post(dave, email_address=new))
    workers.start(1)
    sync_mailbox.delay(dave.pk)
    wait_for(handled(workers, dave), workers)
    assert Contact.objects.filter(owner_user=dave.user).count() == 0

    # when an administrator approves the mailbox with its new address, and dave syncs
    admin = an_administrator()
    approved = admin.post(
        CHANGELIST,
        {"action": "approve_mailboxes", "_selected_action": [dave.pk]},
        follow=True,
    )
    assert "1 mailbox approved." in messages_of(admin, approved)
    pressed = page.post(f"/mailboxes/{dave.pk}/sync/", follow=True)
    assert any("A synchronization started" in m for m in messages_of(page, pressed))

    # then the new address's mailbox syncs
    wait_for(lambda: Contact.objects.filter(owner_user=dave.user).count() == 3, workers)
    dave.refresh_from_db()
    assert (dave.approval_status, dave.approved_email_address) == ("approved", new)


def test_a_rejected_deactivated_mailbox_is_not_synced_and_its_test_does_not_enable_it(
    ews: EmulatorProcess, workers: Workers
) -> None:
    # given bob's approved, working mailbox
    profile = impersonating_profile(ews)
    address = new_address("bob")
    ews.control.create_mailbox(address, "secret")
    bob = act_mailbox(profile, email=address)
    assert bob.user is not None
    workers.start(1)
    # when an administrator rejects and deactivates it, and bob gets a new contact
    admin = an_administrator()
    for action in ("reject_mailboxes", "deactivate_mailboxes"):
        admin.post(CHANGELIST, {"action": action, "_selected_action": [bob.pk]})
    ews.control.seed(address, "contacts", 2)
    # and bob presses "Sync now" and "Test connection" on his page
    page = logged_in(bob.user)
    synced = page.post(f"/mailboxes/{bob.pk}/sync/", follow=True)
    tested = page.post(f"/mailboxes/{bob.pk}/test/", follow=True)

    # then each page says why it refuses
    assert "Nothing was synchronized: the mailbox is turned off." in messages_of(page, synced)
    assert "The connection was not tested: the mailbox is turned off." in messages_of(page, tested)
    # and workers asked directly do nothing either
    sync_mailbox.delay(bob.pk)
    tasks.test_and_enable_mailbox.delay(bob.pk)
    wait_for(handled(workers, bob), workers)
    wait_for(lambda: f"mailbox {bob.pk}: not tested" in workers.output(), workers)
    assert Contact.objects.filter(owner_user=bob.user).count() == 0
    bob.refresh_from_db()
    assert (bob.is_active, bob.approval_status) == (False, "rejected")
    assert (bob.test_status, bob.last_sync_started_at) == ("not_run", None)
