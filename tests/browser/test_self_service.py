"""A person in a real browser (Debian's Chromium) against a live server."""

from types import ModuleType
from typing import Any

import pytest

from mailboxes.models import ItemType, Mailbox
from mailboxes.sync.eligibility import approve
from profiles.models import EmailServerProfile
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, make_person
from tests.web.conftest import RecordedTask

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alice_and_bob() -> tuple[Mailbox, Mailbox]:
    profile = EmailServerProfile.objects.create(
        name="Exchange on premises",
        incoming_server_location="https://mail.example.test/EWS/Exchange.asmx",
    )
    alice = make_person("alice", first_name="Alice")
    bob = make_person("bob")
    Mailbox.objects.update(profile=profile)
    return Mailbox.objects.get(user=alice), Mailbox.objects.get(user=bob)


def sign_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base_url}/")


def test_user_enters_credentials_and_options_and_saves(
    page: Any, live_server: Any, alice_and_bob: tuple[Mailbox, Mailbox]
) -> None:
    mailbox, _ = alice_and_bob
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, "01-login")

    sign_in(page, live_server.url, "alice")
    screenshot(page, "02-overview")
    page.click("a:has-text('Open my mailbox')")
    page.wait_for_url(f"{live_server.url}/mailboxes/{mailbox.pk}/")
    screenshot(page, "03-my-mailbox")

    page.fill("#id_username", "alice@corp.example.test")
    page.fill("#id_password", "Sup3r-secret!")
    page.select_option("#id_tracking_option", "all")
    page.select_option("#id_options-0-conflict_strategy", "manual")
    page.uncheck("#id_options-0-crm_to_exchange")
    page.fill("#id_options-0-categories", "CRM, Customers")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector(".message.success")
    screenshot(page, "04-my-mailbox-saved")

    mailbox.refresh_from_db()
    assert mailbox.username == "alice@corp.example.test"
    assert mailbox.password == "Sup3r-secret!"
    assert mailbox.tracking_option == "all"
    appointments = mailbox.sync_options.get(item_type=ItemType.APPOINTMENT)
    assert (appointments.conflict_strategy, appointments.crm_to_exchange) == ("manual", False)
    assert appointments.categories == ["CRM", "Customers"]
    # Write-only: the saved page shows that a password is stored, never the password.
    assert page.input_value("#id_password") == ""
    assert "Sup3r-secret!" not in page.content()
    assert "A password is stored" in page.inner_text("#settings")


def test_the_page_says_no_worker_is_answering_after_the_wait(
    page: Any,
    live_server: Any,
    alice_and_bob: tuple[Mailbox, Mailbox],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    """Sync now enqueues the mailbox's sync; no worker takes it here, and after the wait
    (2 s in this test) the page says so instead of waiting for ever."""
    # given no worker takes the queued work, and a page that waits 2 s for one
    settings.CRMSYNC_WORKER_WAIT_SECONDS = 2
    mailbox, _ = alice_and_bob
    approve(mailbox)
    mailbox.save()
    tasks = ModuleType("mailboxes.tasks")
    tasks.sync_mailbox = RecordedTask()  # type: ignore[attr-defined]
    monkeypatch.setattr("mailboxes.web.actions.tasks", tasks)
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/mailbox/")

    # when she presses "Sync now"
    page.click("button:has-text('Sync now')")
    page.wait_for_selector(".message.success")
    assert "A synchronization started." in page.inner_text(".messages")
    screenshot(page, "05-sync-now")

    # then, after the wait (which may be over already on a slow machine), the page says so
    # instead of waiting for ever
    page.wait_for_selector("#live-progress:not([aria-busy])", timeout=30_000)
    screenshot(page, "08-no-worker-answering")
    said = page.inner_text("#live-progress")
    assert said.startswith("No worker is answering: nothing happened in "), said
    assert "The work waits in the queue" in said
    assert page.is_enabled("button:has-text('Sync now')")
    assert tasks.sync_mailbox.calls == [(mailbox.pk,)]


def test_another_users_mailbox_answers_404(
    page: Any, live_server: Any, alice_and_bob: tuple[Mailbox, Mailbox]
) -> None:
    _, bobs = alice_and_bob
    sign_in(page, live_server.url, "alice")

    response = page.goto(f"{live_server.url}/mailboxes/{bobs.pk}/")
    screenshot(page, "06-other-mailbox-404")

    assert response.status == 404
    assert "bob@example.test" not in page.content()


def test_small_screen_layout(
    browser: Any, live_server: Any, alice_and_bob: tuple[Mailbox, Mailbox]
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "alice")
        page.goto(f"{live_server.url}/mailbox/")
        screenshot(page, "07-my-mailbox-phone")
        # Nothing wider than the screen: no sideways scrolling on a phone.
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 390
    finally:
        context.close()


def test_user_finds_why_a_message_was_not_tracked_and_tracks_it(
    page: Any,
    live_server: Any,
    alice_and_bob: tuple[Mailbox, Mailbox],
    tmp_path: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from activities.models import Email
    from mailboxes.mail.filing import MailFiler, MessageSource
    from mailboxes.models import ProcessedMessage
    from mailboxes.tasks import track_processed_message
    from tests.mail.messages import build

    settings.MEDIA_ROOT = tmp_path / "media"
    # The worker's task is called by the test (below), once the page has asked for it.
    tasks = ModuleType("mailboxes.tasks")
    tasks.track_processed_message = RecordedTask()  # type: ignore[attr-defined]
    monkeypatch.setattr("mailboxes.web.actions.tasks", tasks)
    mailbox, _ = alice_and_bob
    raw = build(sender="prospect@outside.test", subject="Interested in the bundle")
    MailFiler(mailbox).file(raw, MessageSource(protocol="imap", folder_id="INBOX", uid="1"))
    record = ProcessedMessage.objects.get(mailbox=mailbox)

    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/")
    page.fill("#why-query", "prospect@outside")
    page.click("#why button:has-text('Search')")
    page.wait_for_selector(".why-row")
    answer = page.inner_text("#why")
    assert "Not tracked" in answer
    assert "the sender prospect@outside.test is not a CRM contact, account or user" in answer
    screenshot(page, "09-why-not-tracked")

    page.evaluate("window.notReloaded = true")
    page.click("#why button:has-text('Track it now')")
    page.wait_for_selector(".why-row:has-text('Being tracked on a worker')")
    assert page.get_attribute("#live-progress", "aria-busy") == "true"
    screenshot(page, "10-why-tracking-on-a-worker")
    [(record_id, user_id)] = tasks.track_processed_message.calls
    assert track_processed_message(record_id, user_id) == "tracked"

    page.wait_for_selector("#live-progress:not([aria-busy])")
    assert page.evaluate("window.notReloaded") is True
    assert page.inner_text("#live-progress").startswith("Tracked: tracked on request by alice")
    assert "Tracked" in page.inner_text(".why-row .badge")
    assert page.locator("#why button:has-text('Track it now')").count() == 0
    screenshot(page, "11-why-tracked-now")
    record.refresh_from_db()
    assert Email.objects.get(processed_messages=record).subject == "Interested in the bundle"
