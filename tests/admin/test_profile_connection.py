"""The profile page's "Test connection": queued on a worker, its result shown on the page."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crmsync.admin_display import seconds
from ews_emulator.testing import EmulatorProcess
from mailboxes.models import Mailbox
from mailboxes.sync import testing as sync_testing
from profiles.admin import QUEUED_MESSAGE
from profiles.models import EmailServerProfile
from tests import factories
from tests.admin.conftest import messages_of
from tests.conftest import M365
from tests.sync.helpers import emulated_mailbox, exchange_profile

pytestmark = pytest.mark.django_db

PENDING = Mailbox.ApprovalStatus.PENDING


def change_url(profile: EmailServerProfile) -> str:
    return reverse("admin:profiles_emailserverprofile_change", args=[profile.pk])


def connection_test_url(profile: EmailServerProfile) -> str:
    return reverse("admin:profiles_emailserverprofile_test_connection", args=[profile.pk])


def status_url(profile: EmailServerProfile) -> str:
    return reverse("admin:profiles_emailserverprofile_test_status", args=[profile.pk])


def test_the_change_page_shows_the_button_and_the_last_result(staff_client: Client) -> None:
    profile = factories.make_profile(
        last_test_status="failure",
        last_test_started_at=timezone.now() - timedelta(hours=1),
        last_test_duration_ms=4321,
        last_test_message="0 of 1 mailboxes passed.",
    )

    page = staff_client.get(change_url(profile)).content.decode()

    assert 'id="test-connection-button"' in page
    assert f'action="{connection_test_url(profile)}"' in page
    assert 'class="crmsync-badge status-failure" data-field="status">Failure<' in page
    assert 'data-field="duration">4.3 s<' in page
    assert "0 of 1 mailboxes passed." in page
    # Nothing runs, so the page does not poll.
    assert "connection_test.js" not in page


def test_the_button_runs_the_test_on_a_worker_and_the_page_shows_success(
    staff_client: Client, on_workers, ews: EmulatorProcess
) -> None:
    profile = exchange_profile(ews.ews_url)
    mailbox = emulated_mailbox(ews, profile=profile)

    # when the admin presses the button (the worker runs the task once the request commits)
    response = on_workers(staff_client.post, connection_test_url(profile))

    assert response.status_code == 302
    assert response["Location"] == change_url(profile)
    profile.refresh_from_db()
    assert profile.last_test_status == "success"
    assert profile.last_test_duration_ms is not None
    # then the page it comes back to shows the result
    response = staff_client.get(change_url(profile))
    assert f"Connection test of {profile} queued; its result appears below." in messages_of(
        response
    )
    page = response.content.decode()
    assert 'data-field="status">Success<' in page
    assert f'data-field="duration">{seconds(profile.last_test_duration_ms)}<' in page
    assert " ms<" not in page  # durations in seconds, as everywhere (issue 14)
    assert "1 of 1 mailboxes passed." in page
    mailbox.refresh_from_db()
    assert mailbox.test_status == Mailbox.ChannelStatus.SUCCESS


def test_a_mailbox_that_fails_makes_the_result_a_warning_with_its_message(
    staff_client: Client, on_workers, ews: EmulatorProcess
) -> None:
    profile = exchange_profile(ews.ews_url)
    emulated_mailbox(ews, profile=profile)
    emulated_mailbox(ews, profile=profile, password="wrong")

    on_workers(staff_client.post, connection_test_url(profile))

    page = staff_client.get(change_url(profile)).content.decode()
    assert 'data-field="status">Warning<' in page
    assert "1 of 2 mailboxes passed." in page


def test_a_queued_test_shows_running_and_the_page_polls_its_status(
    staff_client: Client, django_capture_on_commit_callbacks
) -> None:
    # given a profile with an approved mailbox and no worker running the queue
    profile = factories.make_profile()
    factories.make_mailbox(profile=profile, approval_status=Mailbox.ApprovalStatus.APPROVED)

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        staff_client.post(connection_test_url(profile))

    # then one task waits for the commit, and the page says the test is running
    assert len(enqueued) == 1
    page = staff_client.get(change_url(profile)).content.decode()
    assert 'data-field="status">Running<' in page
    assert 'data-running="true"' in page
    assert "crmsync/connection_test.js" in page
    assert 'id="test-connection-button" disabled' in page
    state = staff_client.get(status_url(profile)).json()
    assert state["running"] is True
    assert state["status"] == "running"
    assert state["message"] == QUEUED_MESSAGE
    assert state["duration_ms"] is None


def test_the_status_endpoint_reports_the_result_once_written(staff_client: Client) -> None:
    started = timezone.now() - timedelta(seconds=5)
    profile = factories.make_profile(
        last_test_status="success",
        last_test_started_at=started,
        last_test_duration_ms=250,
        last_test_message="2 of 2 mailboxes passed.",
    )

    state = staff_client.get(status_url(profile)).json()

    assert state == {
        "status": "success",
        "status_label": "Success",
        "running": False,
        "started_at": started.isoformat(),
        "duration_ms": 250,
        "duration": "0.2 s",
        "message": "2 of 2 mailboxes passed.",
    }


def test_a_test_without_result_after_ten_minutes_is_reported_lost(staff_client: Client) -> None:
    profile = factories.make_profile(
        last_test_started_at=timezone.now() - timedelta(minutes=11),
        last_test_duration_ms=None,
        last_test_message=QUEUED_MESSAGE,
    )

    state = staff_client.get(status_url(profile)).json()

    assert state["running"] is False
    assert state["status_label"] == "No result"
    assert "is a Celery worker running?" in state["message"]


def test_a_test_no_worker_took_says_so_after_the_wait_of_every_live_result(
    staff_client: Client, settings: Any
) -> None:
    settings.CRMSYNC_WORKER_WAIT_SECONDS = 30
    waiting = factories.make_profile(
        last_test_started_at=timezone.now() - timedelta(seconds=20),
        last_test_duration_ms=None,
        last_test_message=QUEUED_MESSAGE,
    )
    unanswered = factories.make_profile(
        last_test_started_at=timezone.now() - timedelta(seconds=40),
        last_test_duration_ms=None,
        last_test_message=QUEUED_MESSAGE,
    )

    assert staff_client.get(status_url(waiting)).json()["running"] is True
    state = staff_client.get(status_url(unanswered)).json()
    assert state["running"] is False
    assert state["status_label"] == "No result"
    assert state["message"].startswith("No worker is answering: nothing happened in 30 seconds")


def test_a_test_a_worker_has_taken_runs_past_the_wait(staff_client: Client, settings: Any) -> None:
    settings.CRMSYNC_WORKER_WAIT_SECONDS = 30
    profile = factories.make_profile(
        last_test_started_at=timezone.now() - timedelta(minutes=5),
        last_test_duration_ms=None,
        last_test_message=sync_testing.running_message(40),
    )

    state = staff_client.get(status_url(profile)).json()

    assert state["running"] is True
    assert state["message"] == "Running on a worker: testing 40 mailboxes."


def test_a_profile_test_is_written_when_a_worker_takes_it_and_when_it_ends_only(
    ews: EmulatorProcess,
) -> None:
    """The mailboxes' own results do not stand in for the profile's test while it runs (the
    page polling it would show the first mailbox's result as the test's, and stop)."""
    profile = exchange_profile(ews.ews_url)
    emulated_mailbox(ews, profile=profile)
    emulated_mailbox(ews, profile=profile, password="wrong")

    with CaptureQueriesContext(connection) as queries:
        assert sync_testing.test_profile_mailboxes(profile) == "warning"

    table = EmailServerProfile._meta.db_table
    writes = [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]
    assert len(writes) == 2, writes
    profile.refresh_from_db()
    assert profile.last_test_message.startswith("1 of 2 mailboxes passed.")
    assert profile.last_test_duration_ms is not None


def test_a_profile_without_an_approved_mailbox_queues_nothing(
    staff_client: Client, django_capture_on_commit_callbacks
) -> None:
    profile = factories.make_profile()
    factories.make_mailbox(profile=profile, approval_status=PENDING)

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = staff_client.post(connection_test_url(profile), follow=True)

    assert enqueued == []
    assert any("this profile has none yet" in m for m in messages_of(response))
    profile.refresh_from_db()
    assert profile.last_test_started_at is None


def test_the_test_url_takes_post_only_and_the_status_url_get_only(staff_client: Client) -> None:
    profile = factories.make_profile()

    assert staff_client.get(connection_test_url(profile)).status_code == 405
    assert staff_client.post(status_url(profile)).status_code == 405
    assert (
        staff_client.get(
            reverse("admin:profiles_emailserverprofile_test_status", args=[profile.pk + 1000])
        ).status_code
        == 404
    )


def test_the_action_tests_and_enables_the_approved_mailboxes_of_the_profiles(
    staff_client: Client, on_workers, ews: EmulatorProcess
) -> None:
    profile = exchange_profile(ews.ews_url)
    approved = emulated_mailbox(ews, profile=profile)
    pending = emulated_mailbox(ews, profile=profile, approval_status=PENDING)
    turned_off = emulated_mailbox(ews, profile=profile, is_active=False)

    response = on_workers(
        staff_client.post,
        reverse("admin:profiles_emailserverprofile_changelist"),
        {"action": "test_and_enable_profile_mailboxes", "_selected_action": [profile.pk]},
        follow=True,
    )

    assert "Test & enable queued for the mailboxes of 1 profile." in messages_of(response)
    approved.refresh_from_db()
    pending.refresh_from_db()
    turned_off.refresh_from_db()
    assert approved.test_status == "success"
    assert pending.test_status == "not_run"
    assert (turned_off.test_status, turned_off.is_active) == ("not_run", False)
    profile.refresh_from_db()
    # The skipped ones are named with the reason, by address.
    message = profile.last_test_message
    assert message.startswith("1 of 1 mailboxes passed. 2 not tested: "), message
    assert f"{pending.email_address} (its email address waits for an administrator" in message
    assert f"{turned_off.email_address} (the mailbox is turned off)" in message


@pytest.mark.e2e
def test_a_graph_profile_tests_its_application_before_it_has_mailboxes(
    staff_client: Client, on_workers: Any, m365: M365
) -> None:
    profile = m365.profile(oauth_client_id="app-mail")

    response = on_workers(staff_client.post, connection_test_url(profile))

    assert response.status_code == 302
    page = staff_client.get(change_url(profile)).content.decode()
    assert "Entra ID issued a token to application app-mail" in page
    assert "not allowed: sending outgoing email (Mail.Send)" in page
