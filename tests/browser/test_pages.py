"""The pages at 1366 by 768 in a real browser (Debian's Chromium) against a live server:
every list fits the screen, the status tells the truth about a server that is down, and a
time zone chosen under Preferences moves the times shown (issue 14). Each page is saved as a
screenshot in test-artifacts/screenshots/."""

from datetime import timedelta
from itertools import pairwise
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
from tests.browser.conftest import WIDTH, screenshot
from tests.browser.test_flows import sign_in, sign_in_to_admin
from tests.factories import make_appointment, make_person
from tests.sync.helpers import sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HEIGHT = 768
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
    repeated = {}
    for model in admin.site._registry:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = laptop.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        screenshot(laptop, f"list-{meta.app_label}-{meta.model_name}")
        if overflow(laptop):
            too_wide[url] = overflow(laptop)
        # No crumb says the same as the one before ("Home > Mailboxes > Mailboxes").
        crumbs = [c.strip() for c in laptop.inner_text(".breadcrumbs").split("\u203a")]
        if any(a.casefold() == b.casefold() for a, b in pairwise(crumbs)):
            repeated[url] = crumbs

    assert too_wide == {}
    assert repeated == {}


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


# (server type, the profile's own fields) of the forms by type, and what each shows: a
# password of the mailbox's own, appointments/contacts/tasks, "process and delete".
SERVER_TYPES = {
    "exchange": ({"incoming_authentication_protocol": "basic"}, True, True, False),
    "microsoft_365": (
        {"oauth_tenant_id": "contoso.example", "oauth_client_id": "a"},
        False,
        True,
        False,
    ),
    "imap_smtp": ({"incoming_server_location": "imap.example.test"}, True, False, False),
    "pop3_smtp": ({"incoming_server_location": "pop3.example.test"}, True, False, True),
}


@pytest.mark.parametrize("server_type", list(SERVER_TYPES))
def test_the_mailbox_forms_show_the_fields_of_the_server_type(
    laptop: Any, live_server: Any, server_type: str
) -> None:
    # given a user's mailbox on a profile of this server type
    fields, password, act, pop3 = SERVER_TYPES[server_type]
    profile = EmailServerProfile.objects.create(
        name=f"A {server_type} server", server_type=server_type, **fields
    )
    user = make_person("vera")
    mailbox = Mailbox.objects.get(user=user)
    Mailbox.objects.filter(pk=mailbox.pk).update(profile=profile)

    # when she opens her mailbox page
    sign_in(laptop, live_server.url, "vera")
    laptop.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/")
    screenshot(laptop, f"self-service-mailbox-{server_type}")

    # then it asks only what applies to this server
    assert laptop.is_visible("#id_password") is password
    assert laptop.is_visible("#id_act_delivery_method") is act
    assert laptop.is_visible("#options") is act
    assert laptop.is_visible("#id_process_and_delete") is pop3
    if act:
        appointments = laptop.locator(".option-card", has_text="Appointments")
        contacts = laptop.locator(".option-card", has_text="Contacts")
        assert appointments.locator("[name$=sync_from]").is_visible()
        assert not appointments.locator("[name$=contact_import_scope]").count()
        assert contacts.locator("[name$=contact_import_scope]").is_visible()
        assert not contacts.locator("[name$=sync_from]").count()

    # and so does the administrator's form of the same mailbox
    staff = make_person("ada", is_staff=True, is_superuser=True)
    laptop.context.clear_cookies()
    sign_in_to_admin(laptop, live_server.url, staff)
    laptop.goto(f"{live_server.url}/admin/mailboxes/mailbox/{mailbox.pk}/change/")
    screenshot(laptop, f"admin-mailbox-{server_type}")
    assert laptop.is_visible("#id_password") is password
    assert laptop.is_visible("#id_act_delivery_method") is act
    assert laptop.is_visible("#sync_options-group") is act
    assert laptop.is_visible("#id_process_and_delete") is pop3
    assert laptop.is_visible("button:has-text('Test & enable')")
    assert overflow(laptop) == 0
    if act:
        rows = laptop.locator("#sync_options-group .inline-related")
        visible_sync_from = [
            rows.nth(i).locator(".form-row.field-sync_from").is_visible() for i in range(3)
        ]
        assert visible_sync_from.count(True) == 1
        assert "[]" not in laptop.locator("#sync_options-group").inner_text()
