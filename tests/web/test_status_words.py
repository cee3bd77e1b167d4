"""A mailbox's status in words (`mailboxes.status_words`), from its row: one mapping for the
self-service page, the admin list and form, the health dashboard and the JSON status
endpoint (issue 14)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from mailboxes.connectors import ErrorKind
from mailboxes.models import Mailbox
from mailboxes.status_words import clock, status_of
from profiles.models import EmailServerProfile
from tests import factories
from tests.web.conftest import logged_in

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 3, 4, 13, 0, tzinfo=UTC)


def mailbox(**fields: Any) -> Mailbox:
    fields.setdefault("approval_status", Mailbox.ApprovalStatus.APPROVED)
    fields.setdefault("profile", factories.make_profile())
    return factories.make_mailbox(**fields)


def test_a_mailbox_synced_without_error_is_working() -> None:
    box = mailbox(incoming_status="success", incoming_processed_at=NOW)

    status = status_of(box, NOW)

    assert (status.key, status.level, status.words) == ("working", "ok", "Working")


def test_a_pending_address_waits_for_approval_before_anything_else() -> None:
    box = mailbox(approval_status=Mailbox.ApprovalStatus.PENDING, last_error_kind="network")

    assert status_of(box, NOW).words == "Waiting for approval"


def test_a_refused_password_asks_for_the_new_one() -> None:
    box = mailbox(
        last_error_kind=ErrorKind.AUTHENTICATION,
        last_error_code="ErrorUnauthorized",
        last_error_text="401 Unauthorized",
        incoming_status="failure",
    )

    status = status_of(box, NOW)

    assert status.words == "Wrong password — save the new one"
    assert status.level == "error"
    assert status.details == "401 Unauthorized"


def test_a_refused_service_account_names_the_administrator() -> None:
    profile = factories.make_profile(
        incoming_credential_retrieval=EmailServerProfile.CredentialRetrieval.PROFILE,
        outgoing_credential_retrieval=EmailServerProfile.CredentialRetrieval.PROFILE,
    )
    box = mailbox(profile=profile, last_error_kind=ErrorKind.AUTHENTICATION)

    assert status_of(box, NOW).words.startswith("Sign-in refused")


def test_a_busy_server_says_when_the_next_try_is_in_the_users_time_zone() -> None:
    box = mailbox(
        last_error_kind=ErrorKind.THROTTLED,
        last_error_code="ErrorServerBusy",
        last_error_text="ErrorServerBusy: The server cannot service this request right now.",
        incoming_postpone_until=NOW + timedelta(minutes=5),
    )

    with timezone.override("Europe/Berlin"):
        status = status_of(box, NOW)

    assert status.words == "Server busy, retrying at 14:05"
    assert status.reason == "Exchange is busy and asked us to wait."
    assert status.until == NOW + timedelta(minutes=5)
    assert status.as_json()["until"] == "2030-03-04T13:05:00+00:00"


def test_a_refused_connection_is_transient_and_says_so_in_words() -> None:
    box = mailbox(
        last_error_kind=ErrorKind.NETWORK,
        last_error_code="connection_refused",
        last_error_text="ErrorTimeoutExpired: Connection refused",
    )

    status = status_of(box, NOW)

    assert status.words == "Server not reachable, retrying soon"
    assert status.reason.startswith("The mail server refused the connection")
    assert "Connection refused" in status.details


def test_an_internal_error_says_since_when() -> None:
    box = mailbox(
        last_error_kind=ErrorKind.INTERNAL,
        last_error_code="internal_error",
        last_error_at=NOW - timedelta(minutes=5),
        failing_since=NOW - timedelta(days=1),
    )

    with timezone.override("UTC"):
        status = status_of(box, NOW)

    assert status.words == "Failing since 3 Mar 13:00"
    assert status.reason == "An error in crmsync itself; administrators are alerted."


def test_nothing_synchronized_yet_is_said() -> None:
    assert status_of(mailbox(), NOW).words == "Not synchronized yet"


def test_a_turned_off_mailbox_says_so_whatever_its_last_error() -> None:
    box = mailbox(is_active=False, last_error_kind=ErrorKind.INTERNAL)

    assert status_of(box, NOW).words == "Turned off"


def test_clock_shows_the_day_only_when_it_is_not_today() -> None:
    with timezone.override("UTC"):
        assert clock(NOW + timedelta(minutes=1), NOW) == "13:01"
        assert clock(NOW + timedelta(days=2), NOW) == "6 Mar 13:00"


def test_the_same_words_on_the_user_s_page_the_admin_list_form_and_dashboard(
    staff_client: Client,
) -> None:
    """One failing mailbox, read where a person and an administrator see it: each page says
    the same status and reason (html-escaped as pages write them)."""
    box = mailbox(
        last_error_kind=ErrorKind.AUTHENTICATION,
        last_error_code="ErrorUnauthorized",
        last_error_text="401 Unauthorized",
        incoming_status="failure",
        failing_since=timezone.now(),
        error_count=1,
    )
    status = status_of(box)
    assert box.user is not None
    pages = {
        "self-service": logged_in(box.user).get(f"/mailboxes/{box.pk}/"),
        "admin list": staff_client.get(reverse("admin:mailboxes_mailbox_changelist")),
        "admin form": staff_client.get(reverse("admin:mailboxes_mailbox_change", args=[box.pk])),
        "dashboard": staff_client.get(reverse("admin:mailboxes_health_dashboard")),
    }

    for name, response in pages.items():
        page = response.content.decode()
        assert response.status_code == 200, name
        assert escape(status.words) in page, name
        assert escape(status.reason) in page, name
