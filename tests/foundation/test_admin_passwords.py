"""Stored passwords are write-only in the admin: never shown, kept when left blank."""

import pytest
from django.test import Client
from django.urls import reverse

from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.foundation.html_forms import form_data
from tests.foundation.raw_sql import raw_column

INCOMING = "incoming-Secret-4711"
OUTGOING = "outgoing-Secret-0815"


@pytest.fixture
def profile(db: None) -> EmailServerProfile:
    return factories.make_profile(incoming_password=INCOMING, outgoing_password=OUTGOING)


def profile_url(profile: EmailServerProfile) -> str:
    return reverse("admin:profiles_emailserverprofile_change", args=[profile.pk])


def post_profile_form(
    client: Client, profile: EmailServerProfile, **changes: str
) -> "tuple[int, str]":
    """Posts the change form as the browser shows it, with some fields changed."""
    page = client.get(profile_url(profile))
    data = form_data(page.content.decode(), "emailserverprofile_form")
    data.update({name: [value] for name, value in changes.items()})
    response = client.post(profile_url(profile), data)
    return response.status_code, response.content.decode()


def test_profile_change_page_never_contains_the_stored_passwords(
    staff_client: Client, profile: EmailServerProfile
) -> None:
    # given the stored values, plain and encrypted
    secrets = [
        INCOMING,
        OUTGOING,
        raw_column(EmailServerProfile, "incoming_password", profile.pk),
        raw_column(EmailServerProfile, "outgoing_password", profile.pk),
    ]

    # when an admin opens the profile
    html = staff_client.get(profile_url(profile)).content.decode()

    # then neither value is anywhere in the page
    assert [secret for secret in secrets if secret in html] == []


def test_profile_password_inputs_render_empty_and_say_a_password_is_stored(
    staff_client: Client, profile: EmailServerProfile
) -> None:
    html = staff_client.get(profile_url(profile)).content.decode()

    data = form_data(html, "emailserverprofile_form")
    assert data["incoming_password"] == [""]
    assert data["outgoing_password"] == [""]
    assert html.count("A password is stored.") == 2


def test_profile_without_password_says_none_is_stored(staff_client: Client, db: None) -> None:
    profile = factories.make_profile()

    html = staff_client.get(profile_url(profile)).content.decode()

    assert html.count("No password is stored.") == 2
    assert "A password is stored." not in html


def test_blank_password_fields_keep_the_stored_passwords(
    staff_client: Client, profile: EmailServerProfile
) -> None:
    # when the admin saves the form without typing a password, changing another field
    status, _ = post_profile_form(staff_client, profile, description="Head office")

    # then the other field changed and both passwords are still stored
    assert status == 302
    profile.refresh_from_db()
    assert profile.description == "Head office"
    assert (profile.incoming_password, profile.outgoing_password) == (INCOMING, OUTGOING)


def test_typed_password_replaces_the_stored_one(
    staff_client: Client, profile: EmailServerProfile
) -> None:
    status, _ = post_profile_form(staff_client, profile, incoming_password="brand-new-pw")

    assert status == 302
    profile.refresh_from_db()
    assert (profile.incoming_password, profile.outgoing_password) == ("brand-new-pw", OUTGOING)


def test_clear_checkbox_removes_the_stored_password(
    staff_client: Client, profile: EmailServerProfile
) -> None:
    status, _ = post_profile_form(staff_client, profile, clear_outgoing_password="on")

    assert status == 302
    profile.refresh_from_db()
    assert (profile.incoming_password, profile.outgoing_password) == (INCOMING, "")
    assert raw_column(EmailServerProfile, "outgoing_password", profile.pk) == ""


def test_clear_checkbox_with_a_typed_password_is_refused(
    staff_client: Client, profile: EmailServerProfile
) -> None:
    status, html = post_profile_form(
        staff_client, profile, incoming_password="brand-new-pw", clear_incoming_password="on"
    )

    assert status == 200
    assert "Enter a new password or clear the stored one, not both." in html
    profile.refresh_from_db()
    assert profile.incoming_password == INCOMING


def test_form_shown_again_after_an_error_does_not_echo_the_typed_password(
    staff_client: Client, profile: EmailServerProfile
) -> None:
    # given a typed password and an invalid value elsewhere in the form
    status, html = post_profile_form(
        staff_client, profile, incoming_password="typed-but-unsaved", max_concurrent_connections="0"
    )

    # then the form comes back with the error, without the typed password
    assert status == 200
    assert "typed-but-unsaved" not in html
    profile.refresh_from_db()
    assert profile.incoming_password == INCOMING


def test_profile_added_in_the_admin_stores_its_password_encrypted(staff_client: Client) -> None:
    # given the empty add form, filled in as an admin would
    add_url = reverse("admin:profiles_emailserverprofile_add")
    data = form_data(staff_client.get(add_url).content.decode(), "emailserverprofile_form")
    data.update(
        {
            "name": ["New profile"],
            "incoming_server_location": ["mail.example.com"],
            "incoming_password": ["first-password"],
        }
    )

    response = staff_client.post(add_url, data)

    assert response.status_code == 302
    profile = EmailServerProfile.objects.get(name="New profile")
    assert profile.incoming_password == "first-password"
    assert "first-password" not in raw_column(EmailServerProfile, "incoming_password", profile.pk)


def test_mailbox_change_page_never_contains_the_stored_password(
    staff_client: Client, db: None
) -> None:
    mailbox = factories.make_mailbox(password="mailbox-Secret-42")
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])

    html = staff_client.get(url).content.decode()

    assert "mailbox-Secret-42" not in html
    assert raw_column(Mailbox, "password", mailbox.pk) not in html
    assert form_data(html, "mailbox_form")["password"] == [""]


def test_mailbox_blank_password_keeps_the_stored_one(staff_client: Client, db: None) -> None:
    # given a mailbox with a stored password, its options and a tracking folder (inlines)
    mailbox = factories.make_mailbox(password="mailbox-Secret-42")
    factories.make_tracking_folder(mailbox=mailbox)
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    data = form_data(staff_client.get(url).content.decode(), "mailbox_form")
    data["username"] = ["DOMAIN\\someone"]

    response = staff_client.post(url, data)

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.username, mailbox.password) == ("DOMAIN\\someone", "mailbox-Secret-42")
