"""The pages at 1366 by 768 in a real browser (Debian's Chromium) against a live server:
every list fits the screen, the status tells the truth about a server that is down, and a
time zone chosen under Preferences moves the times shown (issue 14). Each page is saved as a
screenshot in test-artifacts/screenshots/."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from activities.models import ActivityParty, Appointment, Email
from ews_emulator.testing import run_emulator
from mailboxes.connectors.ews import forget_connections
from mailboxes.models import Alert, Mailbox, SyncRun
from profiles.models import EmailServerProfile
from tests.browser.conftest import screenshot
from tests.browser.test_flows import sign_in, sign_in_to_admin
from tests.factories import make_appointment, make_person
from tests.sync.helpers import sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1366, 768
LONG = "A rather long subject line that a real person would write " * 3
DANA = ("dana@example.com", "dana-Exchange-1")


@pytest.fixture
def laptop(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def overflow(page: Any) -> int:
    """How many pixels the page, or the admin's list box (which scrolls on its own),
    reaches past its width: 0 when nothing scrolls sideways."""
    pixels: int = page.evaluate(
        """() => Math.max(
            document.documentElement.scrollWidth - window.innerWidth,
            ...[...document.querySelectorAll("#changelist .results")].map(
                (box) => box.scrollWidth - box.clientWidth
            ),
            0
        )"""
    )
    return pixels


def seed_rows() -> Mailbox:
    """A row or two with long values in the lists that show them."""
    profile = EmailServerProfile.objects.create(
        name="Exchange Online for the whole company",
        incoming_server_location="https://outlook.office365.com/EWS/Exchange.asmx",
    )
    user = make_person("alice.longname", email="alice.with.a.long.address@subsidiary.example.com")
    mailbox = Mailbox.objects.get(user=user)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        profile=profile,
        approval_status=Mailbox.ApprovalStatus.APPROVED,
        approved_email_address=mailbox.email_address,
        last_error_kind="network",
        last_error_code="mail_server_unavailable",
        last_error_text="ErrorTimeoutExpired: " + LONG,
    )
    email = Email.objects.create(
        owner_user=user,
        subject=LONG,
        direction=Email.Direction.INCOMING,
        status=Email.Status.RECEIVED,
        from_address="someone.with.a.long.address@partner.example.org",
        mailbox=mailbox,
    )
    ActivityParty.objects.create(email=email, role="to", address=mailbox.email_address)
    make_appointment(owner_user=user, subject=LONG, location=LONG)
    now = timezone.now()
    SyncRun.objects.create(
        mailbox=mailbox,
        started_at=now,
        finished_at=now,
        duration_ms=1200,
        outcome=SyncRun.Outcome.TRANSIENT,
        error_text="ErrorTimeoutExpired: " + LONG,
    )
    Alert.objects.create(mailbox=mailbox, message=LONG)
    return mailbox


def test_every_admin_list_fits_a_1366_pixel_screen(laptop: Any, live_server: Any) -> None:
    seed_rows()
    staff = make_person("ada", is_staff=True, is_superuser=True)
    sign_in_to_admin(laptop, live_server.url, staff)

    too_wide = {}
    for model in admin.site._registry:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = laptop.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        screenshot(laptop, f"list-{meta.app_label}-{meta.model_name}")
        if overflow(laptop):
            too_wide[url] = overflow(laptop)

    assert too_wide == {}


def test_the_self_service_pages_fit_a_1366_pixel_screen(laptop: Any, live_server: Any) -> None:
    mailbox = seed_rows()
    sign_in(laptop, live_server.url, "alice.longname")

    for name, path in [
        ("home", "/"),
        ("mailbox", f"/mailboxes/{mailbox.pk}/"),
        ("preferences", "/preferences/"),
    ]:
        laptop.goto(f"{live_server.url}{path}")
        screenshot(laptop, f"self-service-{name}")
        assert overflow(laptop) == 0, name


def test_the_status_tells_the_truth_when_the_mail_server_is_down(
    laptop: Any, live_server: Any, tmp_path: Path
) -> None:
    # given Dana's mailbox on an emulated Exchange that has synced once
    with run_emulator(tmp_path / "ews.sqlite3", users=[DANA]) as ews:
        profile = EmailServerProfile.objects.create(
            name="Emulated Exchange",
            incoming_server_location=ews.ews_url,
            incoming_use_ssl=False,
            incoming_authentication_protocol="basic",
            connection_timeout_ms=2_000,
        )
        user = make_person("dana", email=DANA[0])
        mailbox = Mailbox.objects.get(user=user)
        mailbox.profile = profile
        mailbox.username, mailbox.password = DANA
        mailbox.approval_status = Mailbox.ApprovalStatus.APPROVED
        mailbox.approved_email_address = DANA[0]
        mailbox.incoming_delivery_method = "none"
        mailbox.outgoing_delivery_method = "none"
        mailbox.save()
        sync(mailbox)
        sign_in(laptop, live_server.url, "dana")
        laptop.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/")
        assert laptop.inner_text("#status .status-words") == "Working"

    # when the server is gone and the next cycle runs
    forget_connections()
    sync(mailbox, allow_error=True)

    # then the page says so, in words, with the server's text behind "details"
    laptop.reload()
    words = laptop.inner_text("#status .status-words")
    assert words.startswith("Server not reachable, retrying at "), words
    assert laptop.inner_text("#status .status-reason").startswith(
        "The mail server refused the connection"
    )
    assert not laptop.is_visible("#status .status-details pre")
    laptop.click("#status .status-details summary")
    assert laptop.is_visible("#status .status-details pre")
    screenshot(laptop, "self-service-mailbox-server-down")
    mailbox.refresh_from_db()
    assert mailbox.last_error_kind == "network"


def test_a_time_zone_chosen_in_preferences_moves_the_times_shown(
    laptop: Any, live_server: Any
) -> None:
    # given an appointment at 09:00 UTC tomorrow, shown in the installation's zone (UTC)
    user = make_person("tomas")
    mailbox = Mailbox.objects.get(user=user)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        approval_status=Mailbox.ApprovalStatus.APPROVED,
        approved_email_address=mailbox.email_address,
    )
    tomorrow = (timezone.now() + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    Appointment.objects.create(
        owner_user=user, subject="Stand-up", start=tomorrow, end=tomorrow + timedelta(hours=1)
    )
    sign_in(laptop, live_server.url, "tomas")
    laptop.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/")
    assert "09:00\u201310:00" in laptop.inner_text("#appointments")

    # when Tomas chooses Tokyo under Preferences
    laptop.goto(f"{live_server.url}/preferences/")
    laptop.select_option("#id_time_zone", "Asia/Tokyo")
    laptop.click("button:has-text('Save preferences')")
    laptop.wait_for_selector(".message.success")
    screenshot(laptop, "self-service-preferences-saved")

    # then his mailbox page shows the meeting at 18:00, Tokyo time
    laptop.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/")
    assert "18:00\u201319:00" in laptop.inner_text("#appointments")
    screenshot(laptop, "self-service-mailbox-tokyo")
