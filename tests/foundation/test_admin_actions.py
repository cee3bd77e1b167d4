"""Admin actions change the selected rows and say how many changed."""

import pytest
from django.test import Client
from django.urls import reverse

from mailboxes.models import Alert, Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.foundation.html_forms import form_data
from users.models import User

MAILBOXES_URL = "admin:mailboxes_mailbox_changelist"
PENDING = Mailbox.ApprovalStatus.PENDING
APPROVED = Mailbox.ApprovalStatus.APPROVED
REJECTED = Mailbox.ApprovalStatus.REJECTED


def run_action(client: Client, url_name: str, action: str, rows: list) -> list[str]:
    response = client.post(
        reverse(url_name),
        {"action": action, "_selected_action": [row.pk for row in rows]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def statuses(*mailboxes: Mailbox) -> list[str]:
    return [Mailbox.objects.get(pk=m.pk).approval_status for m in mailboxes]


def activity(*mailboxes: Mailbox) -> list[bool]:
    return [Mailbox.objects.get(pk=m.pk).is_active for m in mailboxes]


def test_approve_approves_the_selected_pending_mailboxes(staff_client: Client, db: None) -> None:
    # given two pending mailboxes, one already approved, and one pending not selected
    first, second = factories.make_mailbox(), factories.make_mailbox()
    approved = factories.make_mailbox(approval_status=APPROVED)
    untouched = factories.make_mailbox()

    messages = run_action(
        staff_client, MAILBOXES_URL, "approve_mailboxes", [first, second, approved]
    )

    assert statuses(first, second, approved, untouched) == [APPROVED, APPROVED, APPROVED, PENDING]
    assert messages == ["2 mailboxes approved."]


def test_reject_rejects_the_selected_mailboxes(staff_client: Client, db: None) -> None:
    pending, approved = factories.make_mailbox(), factories.make_mailbox(approval_status=APPROVED)
    untouched = factories.make_mailbox()

    messages = run_action(staff_client, MAILBOXES_URL, "reject_mailboxes", [pending, approved])

    assert statuses(pending, approved, untouched) == [REJECTED, REJECTED, PENDING]
    assert messages == ["2 mailboxes rejected."]


def test_activate_activates_the_selected_inactive_mailboxes(staff_client: Client, db: None) -> None:
    inactive, active = factories.make_mailbox(is_active=False), factories.make_mailbox()
    untouched = factories.make_mailbox(is_active=False)

    messages = run_action(staff_client, MAILBOXES_URL, "activate_mailboxes", [inactive, active])

    assert activity(inactive, active, untouched) == [True, True, False]
    assert messages == ["1 mailbox activated."]


def test_deactivate_deactivates_the_selected_mailboxes(staff_client: Client, db: None) -> None:
    first, second, untouched = (factories.make_mailbox() for _ in range(3))

    messages = run_action(staff_client, MAILBOXES_URL, "deactivate_mailboxes", [first, second])

    assert activity(first, second, untouched) == [False, False, True]
    assert messages == ["2 mailboxes deactivated."]


def test_acknowledge_marks_the_selected_alerts_with_time_and_admin(
    staff_client: Client, superuser: User
) -> None:
    alert, other = factories.make_alert(), factories.make_alert()

    messages = run_action(
        staff_client, "admin:mailboxes_alert_changelist", "acknowledge_alerts", [alert]
    )

    alert.refresh_from_db()
    other.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by == superuser
    assert (other.acknowledged_at, other.acknowledged_by) == (None, None)
    assert messages == ["1 alert acknowledged."]


def test_acknowledge_keeps_the_first_acknowledgement(staff_client: Client, superuser: User) -> None:
    # given an alert another admin acknowledged already
    colleague = factories.make_superuser()
    alert = factories.make_alert()
    Alert.objects.filter(pk=alert.pk).update(
        acknowledged_by=colleague, acknowledged_at="2026-01-01T00:00Z"
    )

    messages = run_action(
        staff_client, "admin:mailboxes_alert_changelist", "acknowledge_alerts", [alert]
    )

    alert.refresh_from_db()
    assert alert.acknowledged_by == colleague
    assert messages == ["0 alerts acknowledged."]


@pytest.mark.parametrize(
    ("action", "start", "expected"),
    [("activate_profiles", False, True), ("deactivate_profiles", True, False)],
)
def test_profile_actions_switch_the_selected_profiles(
    staff_client: Client, db: None, action: str, start: bool, expected: bool
) -> None:
    selected, untouched = (
        factories.make_profile(is_active=start),
        factories.make_profile(is_active=start),
    )

    run_action(staff_client, "admin:profiles_emailserverprofile_changelist", action, [selected])

    assert EmailServerProfile.objects.get(pk=selected.pk).is_active is expected
    assert EmailServerProfile.objects.get(pk=untouched.pk).is_active is start


def test_approving_covers_the_address_the_mailbox_has_now(staff_client: Client) -> None:
    mailbox = factories.make_mailbox(email_address="new@example.com")
    Mailbox.objects.filter(pk=mailbox.pk).update(approved_email_address="old@example.com")

    run_action(staff_client, MAILBOXES_URL, "approve_mailboxes", [mailbox])

    mailbox.refresh_from_db()
    assert (mailbox.approval_status, mailbox.approved_email_address) == (
        APPROVED,
        "new@example.com",
    )


def test_an_address_changed_in_the_admin_waits_for_approval_until_approved_there(
    staff_client: Client,
) -> None:
    mailbox = factories.make_mailbox(approval_status=APPROVED, email_address="ann@example.com")
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])

    # when an administrator edits the address only, it waits for approval
    data = form_data(staff_client.get(url).content.decode(), "mailbox_form")
    data["email_address"] = ["ann.new@example.com"]
    assert staff_client.post(url, data).status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.approval_status, mailbox.approved_email_address) == (
        "pending",
        "ann@example.com",
    )

    # and choosing "Approved" approves the address in the form
    data = form_data(staff_client.get(url).content.decode(), "mailbox_form")
    data["approval_status"] = [APPROVED]
    assert staff_client.post(url, data).status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.approval_status, mailbox.approved_email_address) == (
        APPROVED,
        "ann.new@example.com",
    )


def test_a_profile_that_breaks_its_type_s_rules_is_not_activated(staff_client: Client) -> None:
    broken = factories.make_profile(server_type="microsoft_365", is_active=False)
    EmailServerProfile.objects.filter(pk=broken.pk).update(oauth_tenant_id="")  # not by a form
    fine = factories.make_profile(server_type="microsoft_365", is_active=False)

    response = run_action(
        staff_client,
        "admin:profiles_emailserverprofile_changelist",
        "activate_profiles",
        [broken, fine],
    )

    assert EmailServerProfile.objects.get(pk=broken.pk).is_active is False
    assert EmailServerProfile.objects.get(pk=fine.pk).is_active is True
    assert response == [
        f"“{broken}” not activated: Enter the Directory (tenant) ID from the application's "
        "overview page.",
        "1 profile activated.",
    ]
