"""One emulator per session serving EWS, Graph and Entra ID over TLS (msal wants https),
with registered applications; each test makes mailboxes of its own."""

from __future__ import annotations

import hashlib
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast, Version
from exchangelib.protocol import BaseProtocol, close_connections
from exchangelib.version import EXCHANGE_2016

from ews_emulator.control import ControlClient
from ews_emulator.testing import EmulatorProcess, run_emulator, self_signed_certificate

TENANT = "contoso.onmicrosoft.com"
SECRET = "s3cret~value.Of-An_App"
GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]
EWS_SCOPE = ["https://outlook.office365.com/.default"]
PASSWORD = "secret"


@dataclass
class Tenant:
    emulator: EmulatorProcess
    base: str  # https://127.0.0.1:PORT
    ca_file: str  # the emulator's self-signed certificate, to trust
    app_cert_file: str
    app_key_file: str
    control: ControlClient

    @property
    def authority(self) -> str:
        return f"{self.base}/{TENANT}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def graph(self) -> str:
        return f"{self.base}/v1.0"

    def session(self) -> requests.Session:
        """A requests session trusting the emulator's certificate. trust_env is off because
        requests lets REQUESTS_CA_BUNDLE override a session's `verify`."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file
        return session

    def msal_app(
        self, client_id: str, credential: object = SECRET
    ) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            client_id,
            client_credential=credential,
            authority=self.authority,
            instance_discovery=False,  # else msal asks login.microsoftonline.com first
            http_client=self.session(),
        )

    def token(self, client_id: str = "app-all", scopes: list[str] = GRAPH_SCOPE) -> str:
        result = self.msal_app(client_id).acquire_token_for_client(scopes=scopes)
        assert "access_token" in result, result
        return str(result["access_token"])

    def cert_credential(self) -> dict[str, str]:
        pem = Path(self.app_cert_file).read_bytes()
        der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        return {
            "private_key": Path(self.app_key_file).read_text(),
            "thumbprint": hashlib.sha1(der, usedforsecurity=False).hexdigest(),
        }


@pytest.fixture(scope="session")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    folder = tmp_path_factory.mktemp("graph")
    cert, key = self_signed_certificate(folder, "server")
    app_cert, app_key = self_signed_certificate(folder, "app-cert")
    args = [
        "--tls", cert, key,
        "--tenant", TENANT,
        "--app", f"app-all:{SECRET}",
        "--app", f"app-mail:{SECRET}:Mail.ReadWrite",
        "--app", f"app-ews:{SECRET}:full_access_as_app",
        "--app", f"app-scoped:{SECRET}",
        "--app-scope", "app-scoped:alice@example.com",
        "--app-cert", f"app-cert:{app_cert}:Mail.ReadWrite,full_access_as_app",
    ]  # fmt: skip
    with run_emulator(
        folder / "ews.db", users=[("alice@example.com", PASSWORD)], extra_args=args
    ) as ews:
        context = ssl.create_default_context(cafile=cert)
        base = ews.ews_url.split("/EWS/")[0]
        control = ControlClient(base, ssl_context=context)
        yield Tenant(ews, base, cert, app_cert, app_key, control)


@pytest.fixture
def new_mailbox(tenant: Tenant) -> Callable[[], str]:
    def create() -> str:
        email = f"u{uuid.uuid4().hex[:10]}@example.com"
        tenant.control.create_mailbox(email, PASSWORD)
        return email

    return create


@pytest.fixture(scope="session")
def graph_token(tenant: Tenant) -> str:
    return tenant.token("app-all")


@pytest.fixture
def graph(tenant: Tenant, graph_token: str) -> Iterator[requests.Session]:
    """A requests session as a Graph client would hold: bearer token, JSON."""
    session = tenant.session()
    session.headers["Authorization"] = f"Bearer {graph_token}"
    yield session
    session.close()


@pytest.fixture
def trusting_exchangelib(tenant: Tenant) -> Iterator[None]:
    """exchangelib's HTTP adapter trusting the emulator's self-signed certificate."""
    original = BaseProtocol.HTTP_ADAPTER_CLS

    class Trusting(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn: object, url: str, verify: object, cert: object) -> None:
            super().cert_verify(conn, url, tenant.ca_file, cert)  # type: ignore[arg-type]

    BaseProtocol.HTTP_ADAPTER_CLS = Trusting
    yield
    close_connections()
    BaseProtocol.HTTP_ADAPTER_CLS = original


@pytest.fixture
def ews_account(tenant: Tenant, trusting_exchangelib: None) -> Callable[[str], Account]:
    """An exchangelib account of a mailbox, logged on with its password (Basic over TLS)."""

    def make(email: str) -> Account:
        config = Configuration(
            service_endpoint=tenant.emulator.ews_url,
            credentials=Credentials(email, PASSWORD),
            auth_type=BASIC,
            version=Version(build=EXCHANGE_2016),
            retry_policy=FailFast(),
        )
        return Account(email, config=config, autodiscover=False, access_type=DELEGATE)

    return make
