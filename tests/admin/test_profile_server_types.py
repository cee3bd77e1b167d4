"""The profile form by server type: what each type needs is checked on the server, and the
application's secret and private key are write-only and encrypted at rest like passwords."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from profiles.models import EmailServerProfile
from tests.foundation.html_forms import form_data
from tests.foundation.raw_sql import raw_column
from tests.graph_support import expired_certificate

pytestmark = pytest.mark.django_db

ADD = "admin:profiles_emailserverprofile_add"
GRAPH_APP = {
    "server_type": "microsoft_365",
    "oauth_tenant_id": "contoso.onmicrosoft.com",
    "oauth_client_id": "11111111-2222-3333-4444-555555555555",
}


def post_new_profile(client: Client, **fields: str) -> tuple[int, str]:
    """The add form as the browser shows it, filled in with `fields`."""
    url = reverse(ADD)
    data = form_data(client.get(url).content.decode(), "emailserverprofile_form")
    data.update({"name": ["New profile"]})
    data.update({name: [value] for name, value in fields.items()})
    response = client.post(url, data)
    return response.status_code, response.content.decode()


def test_a_graph_profile_needs_its_application(staff_client: Client) -> None:
    status, html = post_new_profile(staff_client, server_type="microsoft_365")
    assert status == 200
    assert "Enter the Directory (tenant) ID" in html
    assert "Enter the Application (client) ID." in html
    assert "Enter a client secret, or a certificate" in html
    assert not EmailServerProfile.objects.filter(name="New profile").exists()


def test_a_graph_profile_with_a_secret_stores_it_encrypted_and_never_shows_it(
    staff_client: Client,
) -> None:
    status, _ = post_new_profile(staff_client, **GRAPH_APP, oauth_client_secret="Val~ue.123")
    assert status == 302
    profile = EmailServerProfile.objects.get(name="New profile")
    assert profile.oauth_client_secret == "Val~ue.123"
    raw = raw_column(EmailServerProfile, "oauth_client_secret", profile.pk)
    assert "Val~ue.123" not in raw
    url = reverse("admin:profiles_emailserverprofile_change", args=[profile.pk])
    html = staff_client.get(url).content.decode()
    assert "Val~ue.123" not in html and raw not in html
    assert "A value is stored. Leave this blank to keep it." in html


def test_a_certificate_key_keeps_its_line_breaks_and_must_match(
    staff_client: Client, tmp_path: Path
) -> None:
    cert, key, thumbprint = expired_certificate()
    _, other_key, _ = expired_certificate()
    status, html = post_new_profile(
        staff_client, **GRAPH_APP, oauth_private_key=other_key, oauth_certificate=cert
    )
    assert status == 200
    assert "This private key does not belong to the certificate." in html
    assert "PRIVATE KEY" not in html.split("oauth_private_key")[-1].split("</textarea>")[0]
    colons = ":".join(thumbprint[i : i + 2] for i in range(0, 40, 2)).upper()
    status, _ = post_new_profile(
        staff_client, **GRAPH_APP, oauth_private_key=key, oauth_certificate_thumbprint=colons
    )
    assert status == 302
    profile = EmailServerProfile.objects.get(name="New profile")
    assert profile.oauth_private_key == key
    assert profile.oauth_certificate_thumbprint == thumbprint
    assert "PRIVATE KEY" not in raw_column(EmailServerProfile, "oauth_private_key", profile.pk)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {
                **GRAPH_APP,
                "oauth_client_secret": "s",
                "oauth_authority_host": "http://login.example.com",
            },
            "enter an https:// URL",
        ),
        (
            {**GRAPH_APP, "oauth_private_key": "not a key", "oauth_certificate_thumbprint": "ab"},
            "A SHA-1 thumbprint is 40 hexadecimal digits",
        ),
        ({**GRAPH_APP, "oauth_private_key": "not a key"}, "Enter the certificate, or its"),
        ({"server_type": "pop3_smtp"}, "Enter the POP3 server&#x27;s host name."),
        ({"server_type": "imap_smtp"}, "Enter the IMAP server&#x27;s host name."),
        ({"server_type": "exchange"}, "Enter the EWS URL"),
        (
            {"server_type": "exchange", "incoming_authentication_protocol": "oauth"},
            "Enter the Directory (tenant) ID",
        ),
        ({"server_type": "exchange_online"}, "Enter the Application (client) ID."),
    ],
)
def test_each_server_type_is_checked_on_the_server(
    staff_client: Client, fields: dict[str, str], error: str
) -> None:
    status, html = post_new_profile(staff_client, **fields)
    assert status == 200
    assert error in html


def test_exchange_online_needs_no_ews_url(staff_client: Client) -> None:
    status, _ = post_new_profile(
        staff_client, **{**GRAPH_APP, "server_type": "exchange_online"}, oauth_client_secret="s"
    )
    assert status == 302
