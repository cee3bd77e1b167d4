"""Entra ID on the emulator: msal obtains tokens unchanged, errors are Entra's own, and the
tokens open EWS through exchangelib's OAuth2Credentials."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from exchangelib import IMPERSONATION, OAUTH2, Account, Configuration, FailFast, Message, Version
from exchangelib.credentials import OAuth2Credentials
from exchangelib.errors import ErrorAccessDenied
from exchangelib.version import EXCHANGE_2016

from .conftest import EWS_SCOPE, GRAPH_SCOPE, SECRET, TENANT, Tenant

pytestmark = pytest.mark.e2e


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_msal_client_secret_gets_a_signed_graph_token(tenant: Tenant) -> None:
    result = tenant.msal_app("app-mail").acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert result["token_type"] == "Bearer"
    assert 3000 < result["expires_in"] <= 3600
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["appid"] == "app-mail"
    assert claims["roles"] == ["Mail.ReadWrite"]
    assert claims["idtyp"] == "app"
    assert int(claims["exp"]) - time.time() > 3000  # type: ignore[call-overload]


def test_token_verifies_against_the_published_keys(tenant: Tenant) -> None:
    import jwt

    token = tenant.token("app-all")
    config = requests.get(
        f"{tenant.authority}/v2.0/.well-known/openid-configuration",
        verify=tenant.ca_file,
        timeout=30,
    ).json()
    assert config["token_endpoint"] == tenant.token_url
    jwks = requests.get(config["jwks_uri"], verify=tenant.ca_file, timeout=30).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="https://graph.microsoft.com")
    assert set(claims["roles"]) >= {"Mail.ReadWrite", "Calendars.ReadWrite", "Tasks.ReadWrite"}
    assert "full_access_as_app" not in claims["roles"]  # an Exchange role, not a Graph one


@pytest.mark.parametrize("form", ["sha1 thumbprint (RS256)", "public certificate (PS256)"])
def test_msal_certificate_assertion(tenant: Tenant, form: str) -> None:
    credential = tenant.cert_credential()
    if form.startswith("public"):
        del credential["thumbprint"]  # msal then signs PS256 with an x5t#S256 header
        credential["public_certificate"] = Path(tenant.app_cert_file).read_text()
    app = tenant.msal_app("app-cert", credential)
    result = app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert "access_token" in result, result
    claims = claims_of(result["access_token"])
    assert claims["appid"] == "app-cert"
    assert claims["appidacr"] == "2"  # authenticated by certificate


def test_certificate_assertion_signed_by_another_key_is_refused(
    tenant: Tenant, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from ews_emulator.testing import self_signed_certificate

    _, other_key = self_signed_certificate(tmp_path_factory.mktemp("other"), "other")
    credential = tenant.cert_credential() | {"private_key": Path(other_key).read_text()}
    result = tenant.msal_app("app-cert", credential).acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]


def test_wrong_secret_is_aadsts7000215(tenant: Tenant) -> None:
    result = tenant.msal_app("app-mail", "not-the-secret").acquire_token_for_client(GRAPH_SCOPE)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided")


def test_unknown_application_and_scope_errors(tenant: Tenant) -> None:
    unknown = tenant.msal_app("no-such-app").acquire_token_for_client(GRAPH_SCOPE)
    assert (unknown["error"], unknown["error_codes"]) == ("unauthorized_client", [700016])
    raw = requests.post(
        tenant.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "app-all",
            "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/Mail.Read",
        },
        verify=tenant.ca_file,
        timeout=30,
    )
    assert raw.status_code == 400
    assert (raw.json()["error"], raw.json()["error_codes"]) == ("invalid_scope", [1002012])
    password_grant = requests.post(
        tenant.token_url,
        data={"grant_type": "password", "client_id": "app-all", "scope": GRAPH_SCOPE[0]},
        verify=tenant.ca_file,
        timeout=30,
    )
    assert password_grant.status_code == 400
    assert password_grant.json()["error"] == "unsupported_grant_type"


def test_only_the_configured_tenant_exists(tenant: Tenant) -> None:
    answer = requests.get(
        f"{tenant.base}/other.onmicrosoft.com/v2.0/.well-known/openid-configuration",
        verify=tenant.ca_file,
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["error_codes"] == [90002]


# -- EWS with the same tokens ----------------------------------------------------------------


class EmulatorOAuth2Credentials(OAuth2Credentials):
    """exchangelib's client-credentials flow, pointed at the emulator's authority."""

    def __init__(self, *args: object, token_url: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._token_url = token_url

    @property
    def token_url(self) -> str:
        return self._token_url


@pytest.fixture
def oauth_account(tenant: Tenant, trusting_exchangelib: None) -> Callable[..., Account]:
    def make(email: str, client_id: str = "app-ews") -> Account:
        credentials = EmulatorOAuth2Credentials(
            client_id=client_id,
            client_secret=SECRET,
            tenant_id=TENANT,
            token_url=tenant.token_url,
        )
        config = Configuration(
            service_endpoint=tenant.emulator.ews_url,
            credentials=credentials,
            auth_type=OAUTH2,
            version=Version(build=EXCHANGE_2016),
            retry_policy=FailFast(),
        )
        return Account(email, config=config, autodiscover=False, access_type=IMPERSONATION)

    return make


def test_exchangelib_oauth2_credentials_impersonate(
    tenant: Tenant, oauth_account: Callable[..., Account], new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    account = oauth_account(email)
    Message(account=account, folder=account.drafts, subject="Through OAuth").save()
    assert [m.subject for m in account.drafts.all()] == ["Through OAuth"]
    assert [i["subject"] for i in tenant.control.items(email, "drafts")] == ["Through OAuth"]


def test_ews_outside_the_application_scope_is_denied(
    tenant: Tenant, oauth_account: Callable[..., Account], new_mailbox: Callable[[], str]
) -> None:
    tenant.control.register_app("app-ews-scoped", secret=SECRET, mailboxes=[])
    with pytest.raises(ErrorAccessDenied):
        oauth_account(new_mailbox(), "app-ews-scoped").inbox.all().count()


def ews_diagnostics(tenant: Tenant, token: str) -> str:
    """The x-ms-diagnostics of the 401 EWS answers a request with this bearer token."""
    answer = requests.post(
        tenant.emulator.ews_url,
        headers={"Authorization": f"Bearer {token}"},
        data=b"<x/>",
        verify=tenant.ca_file,
        timeout=30,
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    return answer.headers["x-ms-diagnostics"]


def test_ews_refuses_a_graph_token_and_a_token_without_full_access(tenant: Tenant) -> None:
    graph_token = tenant.token("app-all", GRAPH_SCOPE)
    assert "Invalid audience" in ews_diagnostics(tenant, graph_token)
    no_role = tenant.token("app-mail", EWS_SCOPE)  # Mail.ReadWrite only: no Exchange role
    assert "roles" not in claims_of(no_role)
    assert "contains no permissions" in ews_diagnostics(tenant, no_role)


def test_ews_refuses_an_expired_token(tenant: Tenant) -> None:
    expired = tenant.control.expired_token("app-ews", "https://outlook.office365.com")
    assert "token is expired" in ews_diagnostics(tenant, expired)
