"""(profile, mailbox) → connection settings, for every protocol, read off unsaved rows."""

from collections.abc import Callable

import pytest

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.settings import (
    ews_settings,
    graph_settings,
    imap_settings,
    pop3_settings,
    service_endpoint,
    smtp_settings,
)
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile


def profile(**fields: object) -> EmailServerProfile:
    fields.setdefault("pk", 7)
    fields.setdefault("incoming_server_location", "mail.example.com")
    return EmailServerProfile(**fields)


def mailbox(profile: EmailServerProfile | None, **fields: object) -> Mailbox:
    fields.setdefault("email_address", "erik@example.com")
    fields.setdefault("password", "mailbox-secret")
    return Mailbox(profile=profile, **fields)


def test_pop3_and_imap_use_the_mailbox_credentials_by_default() -> None:
    box = mailbox(profile(incoming_port=995), username="erik")

    pop3, imap = pop3_settings(box), imap_settings(box)

    assert (pop3.host, pop3.port, pop3.username, pop3.password, pop3.use_ssl) == (
        "mail.example.com",
        995,
        "erik",
        "mailbox-secret",
        True,
    )
    assert (imap.host, imap.username, imap.password) == (
        "mail.example.com",
        "erik",
        "mailbox-secret",
    )


def test_pop3_imap_and_smtp_settings_never_show_the_password() -> None:
    box = mailbox(profile(use_same_settings_for_outgoing=True))

    for settings in (pop3_settings(box), imap_settings(box), smtp_settings(box)):
        assert settings.password == "mailbox-secret"
        assert "mailbox-secret" not in repr(settings)
        assert "mail.example.com" in repr(settings)


def test_the_user_name_defaults_to_the_email_address() -> None:
    assert pop3_settings(mailbox(profile())).username == "erik@example.com"


def test_profile_retrieval_uses_the_service_account() -> None:
    box = mailbox(
        profile(
            incoming_credential_retrieval="profile",
            incoming_username="svc",
            incoming_password="svc-secret",
        )
    )

    assert (imap_settings(box).username, imap_settings(box).password) == ("svc", "svc-secret")


def test_smtp_uses_the_incoming_credentials_when_the_profile_says_same_settings() -> None:
    box = mailbox(
        profile(
            incoming_credential_retrieval="profile",
            incoming_username="svc",
            incoming_password="svc-secret",
            outgoing_port=465,
        )
    )

    smtp = smtp_settings(box)

    assert (smtp.host, smtp.port, smtp.security, smtp.username) == (
        "mail.example.com",
        465,
        "ssl",
        "svc",
    )


def test_smtp_reads_its_own_side_when_the_profile_has_one() -> None:
    box = mailbox(
        profile(
            use_same_settings_for_outgoing=False,
            outgoing_server_location="smtp.example.com",
            outgoing_port=587,
            outgoing_credential_retrieval="profile",
            outgoing_username="relay",
            outgoing_password="relay-secret",
        )
    )

    smtp = smtp_settings(box)

    assert (smtp.host, smtp.port, smtp.security, smtp.username, smtp.password) == (
        "smtp.example.com",
        587,
        "starttls",
        "relay",
        "relay-secret",
    )


def test_plaintext_smtp_when_ssl_is_off() -> None:
    assert smtp_settings(mailbox(profile(outgoing_use_ssl=False))).security == "none"


def test_ews_completes_a_host_name_into_the_service_url() -> None:
    settings = ews_settings(mailbox(profile(incoming_port=8443)))

    assert settings.service_endpoint == "https://mail.example.com:8443/EWS/Exchange.asmx"
    assert (settings.username, settings.password) == ("erik@example.com", "mailbox-secret")
    assert "mailbox-secret" not in repr(settings)


def test_ews_impersonation_uses_the_service_account() -> None:
    box = mailbox(
        profile(incoming_use_impersonation=True, incoming_username="svc", incoming_password="pw")
    )

    settings = ews_settings(box)

    assert (settings.username, settings.use_impersonation) == ("svc", True)


def test_ews_outgoing_side_when_the_profile_has_one() -> None:
    box = mailbox(
        profile(
            use_same_settings_for_outgoing=False,
            outgoing_server_location="https://out.example.com/EWS/Exchange.asmx",
        )
    )

    assert ews_settings(box).service_endpoint == "https://mail.example.com/EWS/Exchange.asmx"
    assert (
        ews_settings(box, outgoing=True).service_endpoint
        == "https://out.example.com/EWS/Exchange.asmx"
    )


def test_a_full_url_is_kept_and_an_empty_location_stays_empty() -> None:
    assert service_endpoint(" http://h/EWS/x ", port=1, use_ssl=True) == "http://h/EWS/x"
    assert service_endpoint("", port=443, use_ssl=True) == ""


@pytest.mark.parametrize(
    ("build", "box", "code"),
    [
        (pop3_settings, mailbox(None), "no_profile"),
        (ews_settings, mailbox(None), "no_profile"),
        (imap_settings, mailbox(profile(incoming_server_location="")), "no_server_location"),
        (
            smtp_settings,
            mailbox(profile(incoming_server_location="", outgoing_server_location="")),
            "no_server_location",
        ),
        (ews_settings, mailbox(profile(), password=""), "missing_credentials"),
        (ews_settings, mailbox(profile(incoming_server_location="")), "no_server_location"),
        (
            ews_settings,
            mailbox(profile(incoming_authentication_protocol="oauth")),
            "missing_app_credentials",
        ),
    ],
)
def test_settings_that_cannot_work_are_a_permanent_error(
    build: Callable[[Mailbox], object], box: Mailbox, code: str
) -> None:
    with pytest.raises(PermanentSyncError) as raised:
        build(box)

    assert raised.value.code == code


APP = {"oauth_tenant_id": "contoso.onmicrosoft.com", "oauth_client_id": "app-1"}


def test_exchange_online_uses_the_application_and_its_defaults() -> None:
    online = profile(
        server_type="exchange_online",
        incoming_server_location="",
        oauth_client_secret="app-secret",
        **APP,
    )
    ews = ews_settings(mailbox(online))
    assert ews.service_endpoint == "https://outlook.office365.com/EWS/Exchange.asmx"
    assert ews.oauth_scope == "https://outlook.office365.com/.default"
    assert ews.use_impersonation and not ews.use_autodiscover
    assert ews.oauth is not None
    assert ews.oauth.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert (ews.username, ews.password) == ("app-1", "")
    assert "app-secret" not in repr(ews) and "app-secret" not in repr(ews.oauth)


def test_modern_authentication_on_premises_asks_a_token_for_the_ews_host() -> None:
    on_premises = profile(
        incoming_authentication_protocol="oauth",
        oauth_client_secret="app-secret",
        oauth_authority_host="https://login.example.net/",
        **APP,
    )
    ews = ews_settings(mailbox(on_premises))
    assert ews.service_endpoint == "https://mail.example.com/EWS/Exchange.asmx"
    assert ews.oauth_scope == "https://mail.example.com/.default"
    assert ews.oauth is not None and ews.oauth.authority.startswith("https://login.example.net/")


def test_graph_settings_prefer_the_certificate_and_never_show_secrets() -> None:
    graph = profile(
        server_type="microsoft_365",
        oauth_client_secret="app-secret",
        oauth_private_key="-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----",
        oauth_certificate_thumbprint="AB:CD:EF",
        **APP,
    )
    settings = graph_settings(graph, mailbox(graph, email_address="Erik@Example.com"))
    assert settings.user_url == "https://graph.microsoft.com/v1.0/users/erik@example.com/"
    assert settings.app.msal_credential() == {
        "private_key": "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----",
        "thumbprint": "abcdef",
    }
    assert "PRIVATE" not in repr(settings) and "app-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"oauth_client_secret": "s"}, "tenant ID, application (client) ID"),
        (APP, "client secret or certificate"),
        ({**APP, "oauth_private_key": "k"}, "certificate or its thumbprint"),
    ],
)
def test_an_incomplete_application_is_named(fields: dict[str, str], missing: str) -> None:
    graph = profile(server_type="microsoft_365", **fields)
    with pytest.raises(PermanentSyncError) as raised:
        graph_settings(graph, mailbox(graph))
    assert raised.value.code == "missing_app_credentials"
    assert missing in raised.value.message


def test_graph_settings_refuse_another_server_type() -> None:
    with pytest.raises(PermanentSyncError) as raised:
        graph_settings(profile(), mailbox(profile()))
    assert raised.value.code == "not_a_graph_profile"
