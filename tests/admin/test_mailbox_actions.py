"""Mailbox list: test & enable, sync now and full resync run on workers; filters by status,
profile and channel."""

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import Task
from ews_emulator.testing import EmulatorProcess
from mailboxes.models import ExchangeSyncIdMapping, Mailbox
from tests import factories
from tests.admin.conftest import messages_of
from tests.sync.helpers import emulated_mailbox, exchange_profile

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:mailboxes_mailbox_changelist"
FAILURE = Mailbox.ChannelStatus.FAILURE


def run_action(client: Client, action: str, rows: list[Mailbox]):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [row.pk for row in rows]},
        follow=True,
    )


def test_the_changelist_offers_the_worker_actions(staff_client: Client) -> None:
    factories.make_mailbox()

    response = staff_client.get(reverse(CHANGELIST))

    choices = dict(response.context["action_form"].fields["action"].choices)
    assert {"test_and_enable_mailboxes", "sync_mailboxes_now", "full_resync_mailboxes"} <= set(
        choices
    )


def test_sync_now_runs_a_cycle_and_skips_mailboxes_the_engine_never_processes(
    staff_client: Client, on_workers, ews: EmulatorProcess
) -> None:
    # given a synced mailbox with three tasks in Exchange, and a mailbox awaiting approval
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "tasks", 3)
    pending = emulated_mailbox(ews, approval_status=Mailbox.ApprovalStatus.PENDING)

    response = on_workers(run_action, staff_client, "sync_mailboxes_now", [mailbox, pending])

    assert messages_of(response) == [
        "Synchronization queued for 1 mailbox.",
        "1 mailbox skipped: inactive, not approved, its address not approved, or without an "
        "active profile.",
    ]
    assert Task.objects.filter(owner_user=mailbox.user).count() == 3
    mailbox.refresh_from_db()
    assert mailbox.last_success_at is not None
    assert Mailbox.objects.get(pk=pending.pk).last_sync_started_at is None


def test_full_resync_pulls_everything_again_without_duplicates(
    staff_client: Client, on_workers, ews: EmulatorProcess
) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "tasks", 2)
    on_workers(run_action, staff_client, "sync_mailboxes_now", [mailbox])
    first_sync = Mailbox.objects.get(pk=mailbox.pk).last_sync_started_at

    response = on_workers(run_action, staff_client, "full_resync_mailboxes", [mailbox])

    assert messages_of(response) == ["Full resynchronization queued for 1 mailbox."]
    mailbox.refresh_from_db()
    assert first_sync is not None and mailbox.last_sync_started_at is not None
    assert mailbox.last_sync_started_at > first_sync
    assert Task.objects.filter(owner_user=mailbox.user).count() == 2
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 2


def test_test_and_enable_enables_a_failed_mailbox_that_now_connects(
    staff_client: Client, on_workers, ews: EmulatorProcess
) -> None:
    mailbox = emulated_mailbox(ews, act_status=FAILURE)
    broken = emulated_mailbox(ews, password="wrong")
    turned_off = emulated_mailbox(ews, is_active=False, act_status=FAILURE)

    response = on_workers(
        run_action, staff_client, "test_and_enable_mailboxes", [mailbox, broken, turned_off]
    )

    assert messages_of(response) == [
        "Test & enable queued for 2 mailboxes.",
        "1 mailbox skipped: inactive, not approved, its address not approved, or without an "
        "active profile.",
    ]
    mailbox.refresh_from_db()
    broken.refresh_from_db()
    turned_off.refresh_from_db()
    assert (mailbox.test_status, mailbox.act_status) == ("success", "not_run")
    assert broken.test_status == "failure"
    assert broken.last_error_code == "authentication_failed"
    # an administrator turns a mailbox on with "Activate", never through a test
    assert (turned_off.test_status, turned_off.is_active, turned_off.act_status) == (
        "not_run",
        False,
        FAILURE,
    )


def test_filters_by_status_profile_and_channel_combine(staff_client: Client) -> None:
    profile, other_profile = exchange_profile(), exchange_profile()
    wanted = factories.make_mailbox(profile=profile, incoming_status=FAILURE)
    factories.make_mailbox(profile=other_profile, incoming_status=FAILURE)
    factories.make_mailbox(profile=profile, act_status=FAILURE)
    factories.make_mailbox(profile=profile, incoming_status=FAILURE, approval_status="rejected")

    response = staff_client.get(
        reverse(CHANGELIST),
        {
            "incoming_status__exact": "failure",
            "profile__id__exact": str(profile.pk),
            "approval_status__exact": "pending",
            "incoming_delivery_method__exact": wanted.incoming_delivery_method,
        },
    )

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [wanted]


def test_the_status_columns_are_coloured(staff_client: Client) -> None:
    factories.make_mailbox(incoming_status=FAILURE, act_status="success")

    page = staff_client.get(reverse(CHANGELIST)).content.decode()

    assert "background:#c62828;color:#fff" in page
    assert "background:#2e7d32;color:#fff" in page
