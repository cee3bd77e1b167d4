"""The issue's flows end to end: a real browser (Debian's Chromium), the live server, a real
Celery worker process on the test database and the EWS emulator.

The worker runs what the pages enqueue; the pages never talk to the emulator themselves
(the tests do, to set Exchange up).
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib.folders import Folder

from activities.models import Appointment
from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from ews_emulator.testing import EmulatorProcess, run_emulator
from mailboxes.connectors.ews import account_for, forget_connections
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox, MailboxTrackingFolder
from mailboxes.sync.eligibility import approve
from profiles.models import EmailServerProfile
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, make_appointment, make_person
from tests.sync.helpers import options, sync
from tests.sync.workers import Workers, celery_workers
from tests.web.conftest import RecordedTask
from users.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The emulator's mailboxes and the passwords it accepts for them.
DANA = ("dana@example.com", "dana-Exchange-1")
ERIK = ("erik@example.com", "erik-Exchange-1")
# How long a page may wait for the worker's result before the test gives up.
WORKER_WAIT_SECONDS = 60


@pytest.fixture
def ews(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """An emulator of each test's own: the flows count what they find in Exchange."""
    with run_emulator(tmp_path / "ews.sqlite3", users=[DANA, ERIK]) as emulator:
        yield emulator


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """One real worker process, on the test database and a private broker."""
    with celery_workers(tmp_path) as workers:
        workers.start(1)
        yield workers
    forget_connections()


def reload_until(
    page: Any, found: Callable[[], bool], workers: Workers, timeout: float = WORKER_WAIT_SECONDS
) -> None:
    """Reload the page until `found()` holds, as a person waiting for a worker would."""
    deadline = time.monotonic() + timeout
    while not found():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the page did not show the worker's result\n{workers.output()[-4000:]}"
            )
        time.sleep(0.5)
        page.reload()


def wait_live(page: Any, workers: Workers) -> None:
    """Wait for the mailbox page's live script to say the worker's result is shown."""
    try:
        page.wait_for_selector(
            "#live-progress:not([aria-busy])", timeout=WORKER_WAIT_SECONDS * 1000
        )
    except Exception as error:
        raise AssertionError(
            f"the page did not show the worker's result: {page.inner_text('#live-progress')}"
            f"\n{workers.output()[-4000:]}"
        ) from error


def sign_in_to_admin(page: Any, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")


def sign_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base_url}/")


def test_admin_creates_a_profile_approves_a_mailbox_and_test_and_enable_succeeds(
    page: Any, live_server: Any, ews: EmulatorProcess, worker: Workers
) -> None:
    # given an administrator
    admin = make_person("ada", is_staff=True, is_superuser=True)
    sign_in_to_admin(page, live_server.url, admin)
    screenshot(page, "flow-a-01-admin-index")

    # when the administrator adds the Exchange profile through the add form
    page.goto(f"{live_server.url}/admin/profiles/emailserverprofile/add/")
    page.fill("#id_name", "Emulated Exchange")
    page.check("#id_is_default")
    page.select_option("#id_server_type", "exchange")
    page.fill("#id_incoming_server_location", ews.ews_url)
    page.uncheck("#id_incoming_use_ssl")
    page.uncheck("#id_incoming_use_autodiscover")
    page.select_option("#id_incoming_authentication_protocol", "basic")
    page.select_option("#id_incoming_credential_retrieval", "per_mailbox")
    screenshot(page, "flow-a-02-profile-add-form")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    screenshot(page, "flow-a-03-profile-saved")

    profile = EmailServerProfile.objects.get(name="Emulated Exchange")
    assert profile.incoming_server_location == ews.ews_url
    assert (profile.incoming_use_ssl, profile.incoming_use_autodiscover) == (False, False)
    assert profile.incoming_authentication_protocol == "basic"
    assert profile.incoming_credential_retrieval == "per_mailbox"

    # and a new colleague arrives: a pending mailbox on the default profile, her
    # credentials stored (as she would enter them in the self-service pages)
    dana = make_person("dana", email=DANA[0])
    mailbox = Mailbox.objects.get(user=dana)
    assert mailbox.profile_id == profile.pk
    assert mailbox.approval_status == Mailbox.ApprovalStatus.PENDING
    mailbox.username, mailbox.password = DANA
    mailbox.save()

    # and the administrator approves it with the list action
    changelist = f"{live_server.url}/admin/mailboxes/mailbox/"
    page.goto(changelist)
    page.check(f"input[name=_selected_action][value='{mailbox.pk}']")
    page.select_option("select[name=action]", "approve_mailboxes")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    screenshot(page, "flow-a-04-mailbox-approved")
    assert "1 mailbox approved." in page.inner_text(".messagelist")

    # and runs "test & enable" on it
    page.check(f"input[name=_selected_action][value='{mailbox.pk}']")
    page.select_option("select[name=action]", "test_and_enable_mailboxes")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .info")
    screenshot(page, "flow-a-05-test-and-enable-queued")
    assert "Test & enable queued for 1 mailbox." in page.inner_text(".messagelist")

    # then the profile's page shows the worker's successful test
    page.goto(f"{live_server.url}/admin/profiles/emailserverprofile/{profile.pk}/change/")
    status = "#connection-test [data-field=status]"
    reload_until(page, lambda: page.inner_text(status) == "Success", worker)
    screenshot(page, "flow-a-06-test-success")
    message = page.inner_text("#connection-test [data-field=message]")
    assert "Connected and opened" in message
    assert "calendar" in message
    # and the mailbox's own page says so too, and the mailbox is enabled
    page.goto(f"{changelist}{mailbox.pk}/change/")
    assert "Success" in page.inner_text(".field-test_status")
    screenshot(page, "flow-a-07-mailbox-tested")
    mailbox.refresh_from_db()
    assert mailbox.test_status == Mailbox.ChannelStatus.SUCCESS
    assert mailbox.is_active
    assert mailbox.approval_status == Mailbox.ApprovalStatus.APPROVED


@pytest.fixture
def erik(ews: EmulatorProcess, transactional_db: None) -> Mailbox:
    """An approved mailbox without credentials yet, and appointments waiting in Exchange."""
    profile = EmailServerProfile.objects.create(
        name="Emulated Exchange",
        server_type=EmailServerProfile.ServerType.EXCHANGE,
        incoming_server_location=ews.ews_url,
        incoming_use_ssl=False,
        incoming_authentication_protocol="basic",
        is_default=True,
    )
    user = make_person("erik", first_name="Erik", email=ERIK[0])
    mailbox = Mailbox.objects.get(user=user)
    assert mailbox.profile_id == profile.pk
    Mailbox.objects.filter(pk=mailbox.pk).update(
        approval_status=Mailbox.ApprovalStatus.APPROVED,
        approved_email_address=ERIK[0],
        is_active=True,
    )
    ews.control.seed(ERIK[0], "calendar", 3, fields={"Subject": "Quarterly review"})
    ews.control.seed(ERIK[0], "calendar", 2)
    mailbox.refresh_from_db()
    return mailbox


def test_user_enters_credentials_presses_sync_now_and_sees_the_synced_appointments(
    page: Any, live_server: Any, erik: Mailbox, worker: Workers
) -> None:
    # given Erik on his mailbox page, nothing synced yet
    sign_in(page, live_server.url, "erik")
    page.goto(f"{live_server.url}/mailbox/")
    page.wait_for_url(f"{live_server.url}/mailboxes/{erik.pk}/")
    assert "No upcoming appointments" in page.inner_text("#appointments")
    screenshot(page, "flow-b-01-mailbox-before")

    # when he enters his credentials and options and saves
    page.fill("#id_username", ERIK[0])
    page.fill("#id_password", ERIK[1])
    page.select_option("#id_incoming_delivery_method", DeliveryMethod.NONE)
    page.select_option("#id_outgoing_delivery_method", OutgoingDeliveryMethod.NONE)
    page.select_option("#id_act_delivery_method", ActDeliveryMethod.SERVER_SIDE_SYNC)
    page.fill("#id_options-0-categories", "CRM")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector(".message.success")
    screenshot(page, "flow-b-02-settings-saved")

    # and presses "Sync now"
    page.evaluate("window.notReloaded = true")
    page.click("button:has-text('Sync now')")
    page.wait_for_selector(".message.success:has-text('A synchronization started.')")
    screenshot(page, "flow-b-03-sync-started")

    # then, once the worker has synced, the page lists the appointments from Exchange
    # without being reloaded
    wait_live(page, worker)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#appointments li").count() == 5
    assert page.inner_text("#live-progress") == "Synchronized: 5 processed. Working."
    screenshot(page, "flow-b-04-appointments-synced")
    listed = page.inner_text("#appointments")
    assert listed.count("Quarterly review") == 3
    assert "Seeded appointment 0" in listed
    assert set(
        Appointment.objects.filter(owner_user=erik.user).values_list("subject", flat=True)
    ) == {"Quarterly review", "Seeded appointment 0", "Seeded appointment 1"}
    assert "Nothing to report yet." not in page.inner_text("#status")


def test_user_tests_the_connection_and_the_page_shows_each_result_live(
    page: Any, live_server: Any, erik: Mailbox, worker: Workers
) -> None:
    # given Erik's stored credentials, the password an old one
    erik.username, erik.password = ERIK[0], "an-old-password"
    erik.save()
    sign_in(page, live_server.url, "erik")
    page.goto(f"{live_server.url}/mailboxes/{erik.pk}/")
    page.evaluate("window.notReloaded = true")

    # when he tests the connection, the worker's answer shows without a reload
    page.click("button:has-text('Test connection')")
    wait_live(page, worker)
    assert page.inner_text("#live-progress") == (
        "Connection test failed. Wrong password — save the new one."
    )
    assert page.inner_text("#status .status-words") == "Wrong password — save the new one"
    screenshot(page, "flow-e-01-test-failed")

    # and once the right password is stored, the next test passes, still on the same page
    erik.password = ERIK[1]
    erik.save()
    page.click("button:has-text('Test connection')")
    wait_live(page, worker)
    assert page.evaluate("window.notReloaded") is True
    assert page.inner_text("#live-progress").startswith("Connection test passed. ")
    assert "Wrong password" not in page.inner_text("#status")
    screenshot(page, "flow-e-02-test-passed")
    erik.refresh_from_db()
    assert erik.test_status == Mailbox.ChannelStatus.SUCCESS


def test_user_refreshes_the_folder_list_on_a_worker_and_tracks_a_listed_folder(
    page: Any, live_server: Any, erik: Mailbox, worker: Workers
) -> None:
    # given Erik's stored credentials and a folder under his Inbox in Exchange
    erik.username, erik.password = ERIK
    erik.save()
    account = account_for(erik)
    customers = Folder(parent=account.inbox, name="Customers")
    customers.save()
    Folder(parent=customers, name="Globex").save()
    sign_in(page, live_server.url, "erik")
    page.goto(f"{live_server.url}/mailboxes/{erik.pk}/")
    assert page.locator("#id_exchange_folder_id").count() == 1  # typed in until listed

    # when he asks for his folder list
    page.evaluate("window.notReloaded = true")
    page.click("button:has-text('Refresh folder list')")
    page.wait_for_selector(".message.success:has-text('Listing your Exchange folders started.')")
    screenshot(page, "flow-c-01-folder-list-requested")

    # then, once the worker has listed them, the page shows them without a reload and he
    # picks one from the list
    wait_live(page, worker)
    assert page.evaluate("window.notReloaded") is True
    assert page.inner_text("#live-progress") == "2 folders listed."
    assert page.locator("#id_folder").count() == 1
    options = page.locator("#id_folder option").all_inner_texts()
    assert options[1:] == ["Customers", "Customers / Globex"]
    page.select_option("#id_folder", label="Customers / Globex")
    screenshot(page, "flow-c-02-folder-picked")
    page.click("button:has-text('Add folder')")
    page.wait_for_selector(".message.success")
    screenshot(page, "flow-c-03-folder-tracked")

    tracked = MailboxTrackingFolder.objects.get(mailbox=erik)
    assert tracked.exchange_folder_name == "Customers / Globex"
    assert tracked.exchange_folder_id != customers.id
    assert "Customers / Globex" in page.inner_text("#folders table")


def test_admin_refreshes_the_folder_list_on_the_form_and_picks_folders_from_it(
    page: Any, live_server: Any, erik: Mailbox, worker: Workers
) -> None:
    # given Erik's mailbox, a folder under his Inbox and a contact folder in Exchange
    erik.username, erik.password = ERIK
    erik.save()
    account = account_for(erik)
    Folder(parent=account.inbox, name="Customers").save()
    Folder(parent=account.contacts, name="Suppliers", folder_class="IPF.Contact").save()
    sign_in_to_admin(page, live_server.url, make_person("ada", is_staff=True, is_superuser=True))
    change = f"{live_server.url}/admin/mailboxes/mailbox/{erik.pk}/change/"
    page.goto(change)

    # when the administrator presses Refresh folder list on the mailbox's form
    page.click("button:has-text('Refresh folder list')")
    page.wait_for_selector("#admin-live-progress[data-done]", timeout=WORKER_WAIT_SECONDS * 1000)

    # then the form says, without a reload, that the worker listed them
    screenshot(page, "admin-mailbox-folders-listed-live")
    said = page.inner_text("#admin-live-progress")
    assert said.startswith("1 folder listed under the Inbox: reload this page"), said
    assert page.url == change
    # and, reloaded, it offers them as tracking folders and as contact folders
    page.reload()
    page.click("#tracking_folders-group .add-row a")
    options = page.locator("#id_tracking_folders-0-exchange_folder_id option").all_inner_texts()
    assert options[1:] == ["Customers"]
    contacts = page.locator("label:has(input[name$='-contact_import_folders'])")
    assert [text.strip() for text in contacts.all_inner_texts()] == [
        "Contacts",
        "Contacts / Suppliers",
    ]
    screenshot(page, "admin-mailbox-folders-picked")


def test_user_keeps_the_exchange_version_of_a_conflict_and_both_sides_show_it(
    page: Any, live_server: Any, erik: Mailbox, worker: Workers
) -> None:
    # given Erik's appointment, changed in Outlook and in the CRM since the last sync, under
    # the strategy "Ask the user"
    Mailbox.objects.filter(pk=erik.pk).update(
        username=ERIK[0],
        incoming_delivery_method=DeliveryMethod.NONE,
        outgoing_delivery_method=OutgoingDeliveryMethod.NONE,
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
    )
    erik.refresh_from_db()
    erik.password = ERIK[1]
    erik.save()
    options(erik, ItemType.APPOINTMENT, conflict_strategy="manual")
    appointment = make_appointment(owner_user=erik.user, subject="Kick-off", location="Room 1")
    sync(erik)
    item_id = ExchangeSyncIdMapping.objects.get(crm_object_id=appointment.pk).exchange_item_id
    account = account_for(erik)
    item = account.calendar.get(id=item_id)
    item.subject, item.location = "Kick-off (Outlook edit)", "Outlook room"
    item.save(update_fields=["subject", "location"])
    appointment.subject = "Kick-off (CRM edit)"
    appointment.save()
    sync(erik)
    synced_before = Mailbox.objects.get(pk=erik.pk).last_sync_started_at

    # when he keeps the Exchange version on his page
    sign_in(page, live_server.url, "erik")
    page.goto(f"{live_server.url}/mailboxes/{erik.pk}/")
    conflict = page.locator("#conflicts article.conflict")
    assert "Kick-off (CRM edit)" in conflict.inner_text()
    assert "Kick-off (Outlook edit)" in conflict.inner_text()
    screenshot(page, "flow-d-01-conflict")
    conflict.locator("button:has-text('Keep the Exchange version')").click()
    page.wait_for_selector(".message.success")
    screenshot(page, "flow-d-02-exchange-kept")
    # and the worker syncs
    page.click("button:has-text('Sync now')")
    page.wait_for_selector(".message.success")

    def synced() -> bool:
        mailbox = Mailbox.objects.get(pk=erik.pk)
        started = mailbox.last_sync_started_at
        return started != synced_before and not mailbox.claimed_by

    reload_until(page, synced, worker)

    # then the page and the CRM show the Exchange version, and so does Exchange
    screenshot(page, "flow-d-03-synced")
    assert page.locator("#conflicts").count() == 0
    listed = page.inner_text("#appointments")
    assert "Kick-off (Outlook edit)" in listed
    assert "CRM edit" not in listed
    appointment.refresh_from_db()
    assert (appointment.subject, appointment.location) == (
        "Kick-off (Outlook edit)",
        "Outlook room",
    )
    fresh = account_for(erik).calendar.get(id=item_id)
    assert (fresh.subject, fresh.location) == ("Kick-off (Outlook edit)", "Outlook room")


def _dana_on(ews: EmulatorProcess, *, password: str) -> Mailbox:
    """Dana's approved mailbox on the emulated Exchange, with her credentials, not tested."""
    profile = EmailServerProfile.objects.create(
        name="Emulated Exchange",
        incoming_server_location=ews.ews_url,
        incoming_use_ssl=False,
        incoming_authentication_protocol="basic",
    )
    mailbox = Mailbox.objects.get(user=make_person("dana", email=DANA[0]))
    mailbox.profile = profile
    mailbox.username, mailbox.password = DANA[0], password
    mailbox.incoming_delivery_method = "none"
    mailbox.outgoing_delivery_method = "none"
    approve(mailbox)
    mailbox.save()
    return mailbox


def _press_test_and_enable(page: Any, live_server: Any, mailbox: Mailbox) -> str:
    sign_in_to_admin(page, live_server.url, make_person("ada", is_staff=True, is_superuser=True))
    page.goto(f"{live_server.url}/admin/mailboxes/mailbox/{mailbox.pk}/change/")
    assert "Not run" in page.inner_text(".form-row.field-test_status")
    page.click("button:has-text('Test & enable')")
    page.wait_for_selector("#admin-live-progress[data-done]", timeout=WORKER_WAIT_SECONDS * 1000)
    said: str = page.inner_text("#admin-live-progress")
    return said


def test_test_and_enable_on_the_form_shows_the_worker_s_result_live(
    page: Any, live_server: Any, ews: EmulatorProcess, worker: Workers
) -> None:
    # given Dana's approved mailbox, not tested yet, and a worker
    mailbox = _dana_on(ews, password=DANA[1])
    url = f"{live_server.url}/admin/mailboxes/mailbox/{mailbox.pk}/change/"

    # when the administrator presses Test & enable on its form
    said = _press_test_and_enable(page, live_server, mailbox)

    # then the form says, without a reload, that the worker's test passed, and shows it
    screenshot(page, "admin-mailbox-test-and-enable-live")
    assert said.startswith("Test & enable passed: the mailbox is enabled."), said
    assert page.url == url
    assert "Success" in page.inner_text(".form-row.field-test_status")
    mailbox.refresh_from_db()
    assert (mailbox.test_status, mailbox.is_active) == (Mailbox.ChannelStatus.SUCCESS, True)


def test_a_failed_test_and_enable_on_the_form_says_why_live(
    page: Any, live_server: Any, ews: EmulatorProcess, worker: Workers
) -> None:
    # given Dana's mailbox with a wrong password, and a worker
    mailbox = _dana_on(ews, password="not-her-password")

    # when the administrator presses Test & enable on its form
    said = _press_test_and_enable(page, live_server, mailbox)

    # then the form says the test failed, and why, in the status's words
    screenshot(page, "admin-mailbox-test-and-enable-failed-live")
    assert said.startswith("Test & enable failed. "), said
    assert "Failure" in page.inner_text(".form-row.field-test_status")
    mailbox.refresh_from_db()
    assert mailbox.test_status == Mailbox.ChannelStatus.FAILURE


def test_test_and_enable_on_the_form_says_no_worker_is_answering(
    page: Any,
    live_server: Any,
    ews: EmulatorProcess,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given no worker takes the queued test, and a form that waits 2 s for one
    settings.CRMSYNC_WORKER_WAIT_SECONDS = 2
    task = RecordedTask()
    monkeypatch.setattr("mailboxes.tasks.test_and_enable_mailbox", task)
    mailbox = _dana_on(ews, password=DANA[1])

    # when the administrator presses Test & enable on its form
    said = _press_test_and_enable(page, live_server, mailbox)

    # then, after the wait, the form says so instead of waiting for ever
    screenshot(page, "admin-mailbox-test-and-enable-no-worker")
    assert said.startswith("No worker is answering: nothing happened in "), said
    assert page.is_enabled("button:has-text('Test & enable')")
    assert task.calls == [(mailbox.pk,)]
