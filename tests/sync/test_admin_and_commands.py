"""Test & enable, admin action functions, the sync_mailbox command and the push listener."""

import threading
import time

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.management import call_command
from django.test import RequestFactory

from activities.models import Contact
from mailboxes.models import Alert, ExchangeSyncIdMapping, Mailbox
from mailboxes.sync import admin_actions
from mailboxes.sync import testing as enabling
from mailboxes.sync.listener import listen_to_mailbox
from tests.sync.helpers import emulated_mailbox, exchange_profile

pytestmark = pytest.mark.django_db


def test_test_and_enable_succeeds_enables_and_sends_nothing(ews) -> None:
    mailbox = emulated_mailbox(ews, act_status=Mailbox.ChannelStatus.FAILURE)
    before = {f: ews.control.items(mailbox.email_address, f) for f in ("sentitems", "outbox")}

    result = enabling.test_and_enable(mailbox)

    assert result.status == "success"
    mailbox.refresh_from_db()
    assert mailbox.is_active
    assert mailbox.test_status == Mailbox.ChannelStatus.SUCCESS
    assert mailbox.act_status == Mailbox.ChannelStatus.NOT_RUN
    assert mailbox.tested_at is not None
    assert mailbox.profile is not None
    assert mailbox.profile.last_test_status == "success"
    assert {
        f: ews.control.items(mailbox.email_address, f) for f in ("sentitems", "outbox")
    } == before


def test_test_and_enable_failure_records_and_alerts(ews) -> None:
    mailbox = emulated_mailbox(ews, password="wrong")

    result = enabling.test_and_enable(mailbox)

    assert result.status == "failure"
    mailbox.refresh_from_db()
    assert mailbox.test_status == Mailbox.ChannelStatus.FAILURE
    assert mailbox.last_error_code == "authentication_failed"
    assert Alert.objects.filter(mailbox=mailbox, code="authentication_failed").count() == 1
    assert mailbox.profile is not None and mailbox.profile.last_test_status == "failure"


def test_profile_test_summarises_its_mailboxes(ews) -> None:
    profile = exchange_profile(ews.ews_url)
    emulated_mailbox(ews, profile=profile)
    emulated_mailbox(ews, profile=profile, password="wrong")

    assert enabling.test_profile_mailboxes(profile) == "warning"
    profile.refresh_from_db()
    assert profile.last_test_message == "1 of 2 mailboxes passed."


def test_admin_sync_now_lifts_postponement(ews, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "contacts", 2)
    request = RequestFactory().post("/")
    request.session = {}  # type: ignore[assignment]
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    from crmsync.celery import app

    app.conf.task_always_eager = True
    try:
        admin_actions.sync_now(request, Mailbox.objects.filter(pk=mailbox.pk))
    finally:
        app.conf.task_always_eager = False

    assert Contact.objects.filter(owner_user=mailbox.user).count() == 2


def test_sync_mailbox_command_syncs_in_the_foreground(ews, capsys) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "tasks", 3)

    call_command("sync_mailbox", mailbox.email_address)
    call_command("sync_mailbox", mailbox.email_address, "--full")

    out = capsys.readouterr()
    assert "processed" in out.out
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_streaming_event_triggers_a_sync(ews) -> None:
    mailbox = emulated_mailbox(ews)
    stop = threading.Event()
    changed: list[float] = []
    thread = threading.Thread(
        target=listen_to_mailbox,
        args=(mailbox.pk, stop, lambda _: changed.append(time.monotonic())),
        kwargs={"connection_minutes": 1},
        daemon=True,
    )
    thread.start()
    time.sleep(1.0)  # let the subscription open

    made = time.monotonic()
    ews.control.create_item(mailbox.email_address, "task", {"Subject": "Pushed"})
    deadline = time.monotonic() + 10
    while not changed and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()

    assert changed, "no event arrived"
    assert changed[0] - made < 5
