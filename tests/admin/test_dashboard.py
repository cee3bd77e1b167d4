"""The sync health dashboard: counts, failing mailboxes, 24 hours of runs per profile."""

import re
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailboxes.history import record_sync_run
from mailboxes.models import Mailbox, SyncRun
from tests import factories
from tests.sync.helpers import exchange_profile

pytestmark = pytest.mark.django_db

DASHBOARD = "admin:mailboxes_health_dashboard"
FAILURE, SUCCESS = Mailbox.ChannelStatus.FAILURE, Mailbox.ChannelStatus.SUCCESS


def data(page: str, attribute: str, name: str, within: str | None = None) -> str:
    """The text of the element marked data-<attribute>="<name>" (in a profile's block)."""
    if within is not None:
        page = page[page.index(f'data-profile="{within}"') :]
    match = re.search(rf'data-{attribute}="{re.escape(name)}">([^<]*)<', page)
    assert match, f"no data-{attribute}={name!r} on the page"
    return match.group(1)


def hours_ago(hours: float) -> datetime:
    return timezone.now() - timedelta(hours=hours)


def test_the_dashboard_renders_with_nothing_at_all(staff_client: Client) -> None:
    response = staff_client.get(reverse(DASHBOARD))

    page = response.content.decode()
    assert response.status_code == 200
    assert data(page, "count", "total") == "0"
    assert "No mailbox is failing." in page
    assert "No email server profile yet." in page
    assert '<svg class="crmsync-chart"' not in page


def test_a_profile_without_runs_shows_an_empty_state(staff_client: Client) -> None:
    profile = exchange_profile(name="Quiet")
    factories.make_mailbox(profile=profile)

    page = staff_client.get(reverse(DASHBOARD)).content.decode()

    assert data(page, "figure", "runs", within=str(profile.pk)) == "0"
    assert "No sync in the last 24 hours." in page


def test_mailboxes_are_counted_per_channel_status_and_approval(staff_client: Client) -> None:
    factories.make_mailbox(approval_status="approved", incoming_status=FAILURE)
    factories.make_mailbox(approval_status="approved", incoming_status=SUCCESS, act_status=SUCCESS)
    factories.make_mailbox(approval_status="rejected", is_active=False)

    page = staff_client.get(reverse(DASHBOARD)).content.decode()

    assert data(page, "count", "total") == "3"
    assert data(page, "count", "approval-approved") == "2"
    assert data(page, "count", "approval-rejected") == "1"
    assert data(page, "count", "approval-pending") == "0"
    assert data(page, "count", "incoming_status-failure") == "1"
    assert data(page, "count", "incoming_status-success") == "1"
    assert data(page, "count", "incoming_status-not_run") == "1"
    assert data(page, "count", "act_status-success") == "1"
    assert data(page, "count", "inactive") == "1"


def test_failing_mailboxes_are_listed_with_their_errors_and_links(staff_client: Client) -> None:
    failing = factories.make_mailbox(
        profile=factories.make_profile(),
        approval_status="approved",
        act_status=FAILURE,
        error_count=3,
        last_error_kind="authentication",
        last_error_code="authentication_failed",
        last_error_text="The server refused the password.",
        last_error_at=hours_ago(1),
    )
    factories.make_mailbox(act_status=SUCCESS)

    page = staff_client.get(reverse(DASHBOARD)).content.decode()

    assert "1 mailbox with a failed channel or errors" in page
    assert reverse("admin:mailboxes_mailbox_change", args=[failing.pk]) in page
    # the status in words, the server's own text behind "details"
    assert "<strong>Wrong password — save the new one</strong>" in page
    assert "<code>authentication_failed</code> The server refused the password." in page


def test_runs_of_the_last_24_hours_are_summed_per_profile_with_charts(
    staff_client: Client,
) -> None:
    # given two profiles, runs in the last day and one run two days old
    busy, quiet = exchange_profile(name="Busy"), exchange_profile(name="Quiet")
    first = factories.make_mailbox(profile=busy)
    second = factories.make_mailbox(profile=busy)
    other = factories.make_mailbox(profile=quiet)
    this_hour = timezone.localtime().replace(minute=0, second=0, microsecond=0)
    record_sync_run(first, this_hour, 1000, 40, 2, SyncRun.Outcome.SUCCESS)
    record_sync_run(second, this_hour, 3000, 10, 0, SyncRun.Outcome.SUCCESS)
    record_sync_run(first, hours_ago(5), 8000, 0, 0, SyncRun.Outcome.TRANSIENT, "server busy")
    record_sync_run(other, hours_ago(3), 500, 7, 1, SyncRun.Outcome.PERMANENT, "denied")
    record_sync_run(first, hours_ago(48), 99999, 999, 99, SyncRun.Outcome.SUCCESS)

    page = staff_client.get(reverse(DASHBOARD)).content.decode()

    busy_id, quiet_id = str(busy.pk), str(quiet.pk)
    assert data(page, "figure", "runs", within=busy_id) == "3"
    assert data(page, "figure", "processed", within=busy_id) == "50"
    assert data(page, "figure", "failed", within=busy_id) == "2"
    assert data(page, "figure", "errors", within=busy_id) == "1"
    assert data(page, "figure", "average_ms", within=busy_id) == "4000"
    assert data(page, "figure", "slowest_ms", within=busy_id) == "8000"
    assert data(page, "figure", "runs", within=quiet_id) == "1"
    assert data(page, "figure", "processed", within=quiet_id) == "7"
    # one items chart and one duration chart per profile with runs, as inline SVG
    assert page.count('<svg class="crmsync-chart"') == 4
    assert "Items synced per hour, Busy" in page
    # the bar of the current hour holds both runs of this hour (40 + 10 processed, 2 failed)
    assert "processed 50, failed 2</title>" in page
    assert "average 2,000 ms, slowest 3,000 ms, 2 syncs</title>" in page
    assert "<script" not in page.split('id="content-main"')[1]


def test_the_number_of_queries_does_not_grow_with_runs_or_mailboxes(staff_client: Client) -> None:
    profile = exchange_profile()
    mailbox = factories.make_mailbox(profile=profile, act_status=FAILURE, error_count=1)
    record_sync_run(mailbox, hours_ago(1), 100, 1, 0, SyncRun.Outcome.SUCCESS)
    with CaptureQueriesContext(connection) as few:
        staff_client.get(reverse(DASHBOARD))

    for index in range(20):
        extra = factories.make_mailbox(
            profile=exchange_profile() if index % 2 else profile, act_status=FAILURE, error_count=1
        )
        for hour in range(0, 24, 2):
            record_sync_run(extra, hours_ago(hour + 0.5), 100 + hour, hour, 0, "success")
    with CaptureQueriesContext(connection) as many:
        page = staff_client.get(reverse(DASHBOARD)).content.decode()

    assert len(many) == len(few)
    assert "21 mailboxes with a failed channel or errors" in page


def test_the_admin_index_links_to_the_dashboard(staff_client: Client) -> None:
    page = staff_client.get(reverse("admin:index")).content.decode()

    assert f'href="{reverse(DASHBOARD)}"' in page
    assert f'href="{reverse("admin:mailboxes_pendingconflict_changelist")}"' in page
