"""Self-service pages, through Django's test client."""

import datetime as dt
from types import ModuleType

import pytest
from django.test import Client
from django.utils import timezone

from mailboxes.models import (
    Alert,
    ItemType,
    ItemTypeSyncOptions,
    Mailbox,
)
from profiles.models import EmailServerProfile
from tests.factories import PASSWORD
from tests.foundation.html_forms import form_data
from tests.web.conftest import RecordedTask, Team, approved, logged_in, settings_post, url

# --- Signing in --------------------------------------------------------------------------


def test_pages_require_login(team: Team) -> None:
    for path in ("/", "/mailbox/", url(team.alice_mailbox)):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(f"/accounts/login/?next={path}")


def test_login_page_signs_in_and_lands_on_the_overview(team: Team) -> None:
    client = Client()
    page = client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})

    assert page.status_code == 200
    assert b"Sign in" in page.content
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert b"Hello, Alice" in client.get("/").content


def test_wrong_password_is_said_plainly(team: Team) -> None:
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert b"did not match" in response.content


def test_logout_is_a_post_and_returns_to_login(team: Team) -> None:
    client = logged_in(team.alice)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert client.get("/").status_code == 302


# --- Overview ----------------------------------------------------------------------------


def test_overview_links_my_mailbox_and_owned_queues(team: Team) -> None:
    alice_page = logged_in(team.alice).get("/").content.decode()
    owner_page = logged_in(team.queue_owner).get("/").content.decode()
    member_page = logged_in(team.member).get("/").content.decode()

    assert f'href="/mailboxes/{team.alice_mailbox.pk}/"' in alice_page
    assert f'href="/mailboxes/{team.queue_mailbox.pk}/"' in owner_page
    assert f'href="/mailboxes/{team.queue_mailbox.pk}/"' not in member_page
    assert "Support" in member_page  # listed as a queue Molly is a member of


def test_my_mailbox_redirects_to_the_own_mailbox(team: Team) -> None:
    response = logged_in(team.alice).get("/mailbox/")

    assert response.status_code == 302
    assert response["Location"] == url(team.alice_mailbox)


def test_user_without_mailbox_is_told_so(team: Team) -> None:
    team.alice_mailbox.delete()

    response = logged_in(team.alice).get("/mailbox/")

    assert response.status_code == 200
    assert b"You have no mailbox yet" in response.content


# --- My mailbox: rendering and credentials -------------------------------------------------


def test_my_mailbox_shows_address_status_and_alerts(team: Team) -> None:
    mailbox = team.alice_mailbox
    Alert.objects.create(mailbox=mailbox, message="The server refused the password.")

    page = logged_in(team.alice).get(url(mailbox)).content.decode()

    assert "alice@example.test" in page
    assert "Waiting for approval" in page
    assert "An administrator must approve this email address" in page
    assert "The server refused the password." in page
    assert "Test connection" in page and "Sync now" in page


def test_an_alert_about_a_defect_of_crmsync_is_for_the_staff_only(team: Team) -> None:
    mailbox = team.alice_mailbox
    Alert.objects.create(
        mailbox=mailbox,
        code="internal_error",
        message="ZeroDivisionError in crmsync",
        staff_only=True,
    )

    home = logged_in(team.alice).get("/").content.decode()
    page = logged_in(team.alice).get(url(mailbox)).content.decode()

    assert "unacknowledged alert" not in home
    assert "ZeroDivisionError" not in page
    Alert.objects.create(mailbox=mailbox, message="The server refused the password.")
    assert "1 unacknowledged alert." in logged_in(team.alice).get("/").content.decode()


def test_failing_mailbox_explains_the_error(team: Team) -> None:
    Mailbox.objects.filter(pk=team.alice_mailbox.pk).update(
        approval_status=Mailbox.ApprovalStatus.APPROVED,
        approved_email_address=team.alice_mailbox.email_address,
        incoming_status=Mailbox.ChannelStatus.FAILURE,
        last_error_kind="authentication",
        last_error_text="401 Unauthorized",
    )

    page = logged_in(team.alice).get(url(team.alice_mailbox)).content.decode()

    assert "Wrong password — save the new one" in page
    assert "Incoming email: failing." in page
    # the server's own text behind "details"
    assert '<details class="status-details"><summary>Details</summary>' in page
    assert "<pre>401 Unauthorized</pre>" in page


def test_stored_password_is_never_rendered(team: Team) -> None:
    mailbox = team.alice_mailbox
    mailbox.username = "alice.login"
    mailbox.password = "Tr0ub4dor&3"
    mailbox.save()

    page = logged_in(team.alice).get(url(mailbox)).content.decode()

    assert "Tr0ub4dor&amp;3" not in page and "Tr0ub4dor&3" not in page
    assert "A password is stored. Leave this blank to keep it." in page
    assert 'value="alice.login"' in page


def test_blank_password_keeps_the_stored_one(team: Team) -> None:
    mailbox = team.alice_mailbox
    mailbox.password = "kept-secret"
    mailbox.save()

    response = logged_in(team.alice).post(
        url(mailbox), settings_post(mailbox, username="alice2", password="")
    )

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.username, mailbox.password) == ("alice2", "kept-secret")


def test_new_password_replaces_and_clear_removes(team: Team) -> None:
    mailbox = team.alice_mailbox
    client = logged_in(team.alice)

    client.post(url(mailbox), settings_post(mailbox, password="brand-new"))
    mailbox.refresh_from_db()
    replaced = mailbox.password
    client.post(url(mailbox), settings_post(mailbox, clear_password="on"))
    mailbox.refresh_from_db()

    assert (replaced, mailbox.password) == ("brand-new", "")


def test_credentials_are_hidden_when_the_profile_uses_a_service_account(team: Team) -> None:
    EmailServerProfile.objects.filter(pk=team.profile.pk).update(
        incoming_credential_retrieval=EmailServerProfile.CredentialRetrieval.PROFILE,
        outgoing_credential_retrieval=EmailServerProfile.CredentialRetrieval.PROFILE,
    )

    page = logged_in(team.alice).get(url(team.alice_mailbox)).content.decode()

    assert 'name="password"' not in page
    assert 'name="username"' not in page


@pytest.mark.parametrize("server_type", ["microsoft_365", "exchange_online"])
def test_credentials_are_hidden_when_the_profile_signs_in_as_an_application(
    team: Team, server_type: str
) -> None:
    EmailServerProfile.objects.filter(pk=team.profile.pk).update(server_type=server_type)

    page = logged_in(team.alice).get(url(team.alice_mailbox)).content.decode()

    assert 'name="password"' not in page
    assert 'name="username"' not in page
    # Appointments, contacts and tasks are offered: Microsoft 365 holds them too.
    assert 'value="server_side_sync"' in page.split('name="act_delivery_method"')[1][:800]


# --- My mailbox: options -----------------------------------------------------------------


def test_settings_and_per_type_options_are_saved(team: Team) -> None:
    mailbox = team.alice_mailbox
    options = {o.item_type: o for o in mailbox.sync_options.all()}
    appointment_prefix = _prefix_of(mailbox, ItemType.APPOINTMENT)
    data = settings_post(
        mailbox,
        tracking_option=Mailbox.TrackingOption.ALL,
        outgoing_delivery_method="none",
        **{
            f"{appointment_prefix}-conflict_strategy": "manual",
            f"{appointment_prefix}-categories": "CRM, Customers",
            f"{appointment_prefix}-sync_from": "2030-01-01",
            f"{appointment_prefix}-delete_exchange_to_crm": "on",
            f"{appointment_prefix}-crm_to_exchange": None,  # unticked
        },
    )

    response = logged_in(team.alice).post(url(mailbox), data)

    assert response.status_code == 302, response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.tracking_option == "all"
    assert mailbox.outgoing_delivery_method == "none"
    appointments = ItemTypeSyncOptions.objects.get(pk=options[ItemType.APPOINTMENT].pk)
    assert appointments.conflict_strategy == "manual"
    assert appointments.categories == ["CRM", "Customers"]
    assert str(appointments.sync_from) == "2030-01-01"
    assert (appointments.crm_to_exchange, appointments.delete_exchange_to_crm) == (False, True)
    tasks = ItemTypeSyncOptions.objects.get(pk=options[ItemType.TASK].pk)
    assert tasks.conflict_strategy == "most_recent_wins"  # untouched


def _prefix_of(mailbox: Mailbox, item_type: str) -> str:
    ordered = list(mailbox.sync_options.order_by("item_type").values_list("item_type", flat=True))
    return f"options-{ordered.index(item_type)}"


def test_forged_options_of_another_mailbox_are_refused(team: Team) -> None:
    mailbox = team.alice_mailbox
    bobs = team.bob_mailbox.sync_options.get(item_type=ItemType.TASK)
    data = settings_post(mailbox, **{"options-0-id": str(bobs.pk), "options-0-is_enabled": None})

    response = logged_in(team.alice).post(url(mailbox), data)

    assert response.status_code == 400
    bobs.refresh_from_db()
    assert bobs.is_enabled is True


def test_invalid_choice_is_shown_and_nothing_is_saved(team: Team) -> None:
    mailbox = team.alice_mailbox
    data = settings_post(mailbox, tracking_option="everything", email_address="changed@x.test")

    response = logged_in(team.alice).post(url(mailbox), data)

    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    mailbox.refresh_from_db()
    assert mailbox.email_address == "alice@example.test"


def test_pop3_profile_does_not_offer_appointment_sync(team: Team) -> None:
    EmailServerProfile.objects.filter(pk=team.profile.pk).update(
        server_type=EmailServerProfile.ServerType.POP3_SMTP
    )
    mailbox = team.alice_mailbox
    Mailbox.objects.filter(pk=mailbox.pk).update(act_delivery_method="none")
    client = logged_in(team.alice)

    page = client.get(url(mailbox)).content.decode()
    response = client.post(
        url(mailbox), settings_post(mailbox, act_delivery_method="server_side_sync")
    )

    assert 'name="process_and_delete"' in page
    assert 'name="act_delivery_method"' not in page
    assert 'name="send_invitations"' not in page
    assert response.status_code == 302  # a forged value is not a field of this form
    mailbox.refresh_from_db()
    assert mailbox.act_delivery_method == "none"


def test_saving_the_page_unchanged_keeps_every_setting(team: Team) -> None:
    """What the page shows is what it posts back: no setting is lost because the page does
    not show it (meeting invitations were, once)."""
    mailbox = team.alice_mailbox
    Mailbox.objects.filter(pk=mailbox.pk).update(send_invitations=True)
    client = logged_in(team.alice)
    before: dict[str, object] = dict(Mailbox.objects.values().get(pk=mailbox.pk))

    page = client.get(url(mailbox)).content.decode()
    response = client.post(url(mailbox), form_data(page, "settings"))

    assert response.status_code == 302, response.content.decode()[:3000]
    after: dict[str, object] = dict(Mailbox.objects.values().get(pk=mailbox.pk))
    changed = {k for k in before if before[k] != after[k]} - {"modified_at"}
    assert changed == set()


def test_changing_the_address_asks_for_approval_again(team: Team) -> None:
    mailbox = team.alice_mailbox
    Mailbox.objects.filter(pk=mailbox.pk).update(approval_status="approved")

    response = logged_in(team.alice).post(
        url(mailbox), settings_post(mailbox, email_address="alice.new@example.test")
    )

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.email_address, mailbox.approval_status) == ("alice.new@example.test", "pending")


# --- Who may open which mailbox -------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["", "test/", "sync/", "folders/", "folders/1/remove/", "conflicts/1/"]
)
def test_another_users_mailbox_is_404(team: Team, action: str) -> None:
    client = logged_in(team.alice)
    bobs = team.bob_mailbox

    response = (client.get if action == "" else client.post)(url(bobs, action))

    assert response.status_code == 404


def test_posting_settings_to_another_users_mailbox_is_404(team: Team) -> None:
    bobs = team.bob_mailbox

    response = logged_in(team.alice).post(url(bobs), settings_post(bobs, tracking_option="all"))

    assert response.status_code == 404
    bobs.refresh_from_db()
    assert bobs.tracking_option != "all"


def test_queue_owner_manages_the_queue_mailbox(team: Team) -> None:
    mailbox = team.queue_mailbox
    client = logged_in(team.queue_owner)

    page = client.get(url(mailbox)).content.decode()
    response = client.post(url(mailbox), settings_post(mailbox, tracking_option="all"))

    assert "Queue “Support”" in page
    assert 'name="act_delivery_method"' not in page  # a queue has no calendar
    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.tracking_option == "all"


def test_queue_member_cannot_manage_the_queue_mailbox(team: Team) -> None:
    mailbox = team.queue_mailbox
    client = logged_in(team.member)

    assert client.get(url(mailbox)).status_code == 404
    assert client.post(url(mailbox), settings_post(mailbox)).status_code == 404


def test_staff_do_not_manage_others_mailboxes_here(team: Team) -> None:
    team.bob.is_staff = True
    team.bob.save()

    assert logged_in(team.bob).get(url(team.alice_mailbox)).status_code == 404


# --- Buttons that start work on a worker -----------------------------------------------------


def test_sync_now_enqueues_the_task(team: Team, recorded_tasks: ModuleType) -> None:
    mailbox = approved(team.alice_mailbox)

    response = logged_in(team.alice).post(url(mailbox, "sync/"), follow=True)

    assert recorded_tasks.sync_mailbox.calls == [(mailbox.pk,)]
    assert b"A synchronization started." in response.content


def test_sync_now_lifts_postponements_and_makes_the_mailbox_due(
    team: Team, recorded_tasks: ModuleType
) -> None:
    # given an idle mailbox backed off for an hour, due only then
    later = timezone.now() + dt.timedelta(hours=1)
    mailbox = approved(team.alice_mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        incoming_postpone_until=later,
        outgoing_postpone_until=later,
        act_postpone_until=later,
        next_due_at=later,
    )

    # when its owner presses "Sync now"
    logged_in(team.alice).post(url(mailbox, "sync/"))

    # then nothing holds it back any more, and its sync is enqueued
    mailbox.refresh_from_db()
    assert mailbox.incoming_postpone_until is None
    assert mailbox.outgoing_postpone_until is None
    assert mailbox.act_postpone_until is None
    assert mailbox.next_due_at is not None
    assert mailbox.next_due_at <= timezone.now()
    assert recorded_tasks.sync_mailbox.calls == [(mailbox.pk,)]


def test_sync_now_keeps_the_back_off_after_transient_errors(
    team: Team, recorded_tasks: ModuleType
) -> None:
    # given a mailbox the server told us to leave alone for an hour after ErrorServerBusy
    later = timezone.now() + dt.timedelta(hours=1)
    mailbox = approved(team.alice_mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        act_postpone_until=later, next_due_at=later, transient_failure_count=1
    )

    # when its owner presses "Sync now"
    logged_in(team.alice).post(url(mailbox, "sync/"))

    # then the server's hint still holds for that channel; the rest of the mailbox is due
    mailbox.refresh_from_db()
    assert mailbox.act_postpone_until == later
    assert mailbox.next_due_at is not None
    assert mailbox.next_due_at <= timezone.now()


def test_test_connection_enqueues_the_task(team: Team, recorded_tasks: ModuleType) -> None:
    mailbox = approved(team.queue_mailbox)

    response = logged_in(team.queue_owner).post(url(mailbox, "test/"), follow=True)

    calls = recorded_tasks.test_and_enable_mailbox.calls
    assert calls == [(mailbox.pk,)]
    assert b"The connection test started." in response.content


def test_missing_task_is_said_plainly(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mailboxes.web.actions.tasks", ModuleType("mailboxes.tasks"))

    response = logged_in(team.alice).post(url(approved(team.alice_mailbox), "sync/"), follow=True)

    assert b"A synchronization is not available on this server yet." in response.content


@pytest.mark.parametrize(
    ("action", "said"),
    [
        ("sync/", "Nothing was synchronized"),
        ("test/", "The connection was not tested"),
        ("folders/refresh/", "Folders were not listed"),
    ],
)
def test_buttons_of_a_mailbox_that_may_not_connect_say_why_and_start_nothing(
    team: Team, recorded_tasks: ModuleType, action: str, said: str
) -> None:
    recorded_tasks.list_exchange_folders = RecordedTask()  # type: ignore[attr-defined]
    # given alice's approved mailbox, whose address she changed
    mailbox = approved(team.alice_mailbox)
    client = logged_in(team.alice)
    client.post(url(mailbox), settings_post(mailbox, email_address="boss@example.test"))

    response = client.post(url(mailbox, action), follow=True)

    messages = [str(m) for m in response.context["messages"]]
    assert f"{said}: its email address waits for an administrator's approval." in messages
    for task in ("sync_mailbox", "test_and_enable_mailbox", "list_exchange_folders"):
        assert getattr(recorded_tasks, task).calls == []


def test_buttons_need_post(team: Team, recorded_tasks: ModuleType) -> None:
    response = logged_in(team.alice).get(url(team.alice_mailbox, "sync/"))

    assert response.status_code == 405
    assert recorded_tasks.sync_mailbox.calls == []


# --- Look and feel ---------------------------------------------------------------------------


def test_pages_use_the_local_stylesheet_and_nothing_external(team: Team) -> None:
    client = logged_in(team.alice)
    pages = [client.get(path).content.decode() for path in ("/", url(team.alice_mailbox))]
    pages.append(Client().get("/accounts/login/").content.decode())

    for page in pages:
        assert "/static/selfservice/app.css" in page
        assert "https://" not in page and "http://" not in page
