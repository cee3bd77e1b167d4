"""Test & enable and the profile test of Microsoft 365 (Graph) profiles against the emulator's
Entra ID and Graph: each failure says what the administrator should change."""

from __future__ import annotations

import pytest

from crmsync.choices import ActDeliveryMethod
from mailboxes.connectors import ErrorKind, PermanentSyncError
from mailboxes.connectors.graph import probe
from mailboxes.connectors.settings import graph_settings
from mailboxes.models import Alert, Mailbox
from mailboxes.sync import testing as enabling
from profiles.models import EmailServerProfile
from tests.conftest import M365
from tests.graph_support import SECRET, expired_certificate

pytestmark = pytest.mark.e2e


def failure_of(m365: M365, email: str | None = None, **profile_fields: object) -> Mailbox:
    mailbox = m365.mailbox(m365.profile(**profile_fields), email=email)
    result = enabling.test_and_enable(mailbox)
    assert result.status == "failure", result.message
    mailbox.refresh_from_db()
    assert mailbox.test_status == Mailbox.ChannelStatus.FAILURE
    assert Alert.objects.filter(mailbox=mailbox, code=mailbox.last_error_code).exists()
    return mailbox


def test_a_graph_mailbox_passes_and_says_what_it_opened(m365: M365) -> None:
    mailbox = m365.mailbox()
    result = enabling.test_and_enable(mailbox)
    assert result.status == "success", result.message
    assert "the Inbox" in result.message and "Sent Items" in result.message
    mailbox.refresh_from_db()
    assert mailbox.test_status == Mailbox.ChannelStatus.SUCCESS


def test_wrong_secret(m365: M365) -> None:
    mailbox = failure_of(m365, oauth_client_secret="the-secret-id-not-its-value")
    assert mailbox.last_error_code == "wrong_client_secret"
    assert mailbox.last_error_kind == ErrorKind.AUTHENTICATION
    assert "Value (not its Secret ID)" in mailbox.last_error_text
    assert "the-secret-id-not-its-value" not in mailbox.last_error_text


def test_expired_certificate_known_to_entra_only_by_thumbprint(m365: M365) -> None:
    cert, key, thumbprint = expired_certificate()
    m365.tenant.control.register_app("app-expired", certificate_pem=cert)
    mailbox = failure_of(
        m365,
        oauth_client_id="app-expired",
        oauth_client_secret="",
        oauth_private_key=key,
        oauth_certificate_thumbprint=thumbprint,
    )
    assert mailbox.last_error_code == "certificate_expired"
    assert "has expired" in mailbox.last_error_text


def test_expired_certificate_in_the_profile_is_refused_before_asking(m365: M365) -> None:
    cert, key, _ = expired_certificate()
    mailbox = failure_of(
        m365,
        oauth_client_id="app-never-asked",
        oauth_client_secret="",
        oauth_private_key=key,
        oauth_certificate=cert,
    )
    assert mailbox.last_error_code == "certificate_expired"
    assert "expired on" in mailbox.last_error_text


def test_missing_role_is_named(m365: M365) -> None:
    m365.tenant.control.register_app("app-send-only", secret=SECRET, roles=["Mail.Send"])
    mailbox = failure_of(m365, oauth_client_id="app-send-only")
    assert mailbox.last_error_code == "missing_role"
    assert "permission Mail.ReadWrite" in mailbox.last_error_text
    assert "grant admin consent" in mailbox.last_error_text


def test_a_token_without_mail_send_is_noted_not_failed(m365: M365) -> None:
    # Sending cannot be tried without sending; RBAC for Applications may grant it.
    # (appointments, contacts and tasks off: the application has no role for them)
    mailbox = m365.mailbox(
        m365.profile(oauth_client_id="app-mail"), act_delivery_method=ActDeliveryMethod.NONE
    )
    result = enabling.test_and_enable(mailbox)
    assert result.status == "success", result.message
    assert "the token has no Mail.Send" in result.message


@pytest.mark.parametrize(
    ("role", "channel_reads"),
    [
        ("Calendars.ReadWrite", "the calendar"),
        ("Contacts.ReadWrite", "the contact folders"),
        ("Tasks.ReadWrite", "the To Do lists"),
    ],
)
def test_each_missing_role_of_appointments_contacts_and_tasks_is_named(
    m365: M365, role: str, channel_reads: str
) -> None:
    others = [r for r in probe.ROLE_USES if r != role]
    m365.tenant.control.register_app(f"app-no-{role}", secret=SECRET, roles=others)
    profile = m365.profile(oauth_client_id=f"app-no-{role}")
    settings = graph_settings(profile, m365.mailbox(profile))
    with pytest.raises(PermanentSyncError) as missing:
        probe.check_mailbox(settings, ["incoming", "act"])
    assert missing.value.code == "missing_role"
    assert f"permission {role}" in missing.value.message
    everything = m365.profile()
    opened = probe.check_mailbox(graph_settings(everything, m365.mailbox(everything)), ["act"])
    assert channel_reads in opened


def test_mailbox_outside_the_application_scope(m365: M365) -> None:
    mailbox = failure_of(m365, oauth_client_id="app-scoped")
    assert mailbox.last_error_code == "mailbox_out_of_scope"
    assert "application access policy" in mailbox.last_error_text


def test_mailbox_that_does_not_exist(m365: M365) -> None:
    mailbox = failure_of(m365, email="left-the-company@example.com")
    assert mailbox.last_error_kind == ErrorKind.MAILBOX_NOT_FOUND
    assert "has no mailbox left-the-company@example.com" in mailbox.last_error_text


def test_profile_test_says_which_channels_the_roles_allow(m365: M365) -> None:
    profile = m365.profile(oauth_client_id="app-mail")
    m365.mailbox(profile, act_delivery_method=ActDeliveryMethod.NONE)
    assert enabling.test_profile_mailboxes(profile) == "success"
    profile.refresh_from_db()
    message = profile.last_test_message
    assert "its roles allow incoming email" in message and "(Mail.ReadWrite)" in message
    assert "not allowed: sending outgoing email (Mail.Send)" in message
    assert "tasks (Tasks.ReadWrite)" in message
    assert "1 of 1 mailboxes passed" in message


def test_profile_test_with_a_wrong_secret_fails_at_the_application(m365: M365) -> None:
    profile = m365.profile(oauth_client_secret=SECRET + "x")
    m365.mailbox(profile)
    assert enabling.test_profile_mailboxes(profile) == "failure"
    profile.refresh_from_db()
    assert profile.last_test_status == EmailServerProfile.TestStatus.FAILURE
    assert "wrong_client_secret" in profile.last_test_message


def test_profile_test_of_the_application_alone(m365: M365) -> None:
    profile = m365.profile()
    assert enabling.test_profile_mailboxes(profile) == "success"
    profile.refresh_from_db()
    assert profile.last_test_message.startswith("Entra ID issued a token to application app-all")
    assert profile.last_test_message.endswith("No mailbox may connect yet, none was tested.")
