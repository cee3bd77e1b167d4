"""A Microsoft 365 tenant on the emulator for product tests: Entra ID and Graph over TLS (msal
insists on an https authority), applications to choose from, and profiles and mailboxes of
the product pointing at them.

Fixtures in tests/conftest.py: `graph_tenant` (one emulator per session) and `m365` (per
test: trusts the emulator's certificate, makes Graph profiles and mailboxes).

Registered applications (client id: roles), all with the secret SECRET:
- `app-all`: every Graph role and full_access_as_app, every mailbox;
- `app-mail`: Mail.ReadWrite only;
- `app-scoped`: every role, limited to SCOPED_MAILBOX (an application access policy);
- `app-cert`: certificate only (`tenant.cert_files`), every role.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ews_emulator.control import ControlClient
from ews_emulator.testing import EmulatorProcess, run_emulator, self_signed_certificate

TENANT = "contoso.onmicrosoft.com"
SECRET = "s3cret~value.Of-An_App"
PASSWORD = "secret"
SCOPED_MAILBOX = "scoped@example.com"


@dataclass
class GraphTenant:
    emulator: EmulatorProcess
    base: str  # https://127.0.0.1:PORT: the authority host
    ca_file: str  # the emulator's self-signed certificate, to trust
    cert_file: str  # app-cert's certificate and private key
    key_file: str
    control: ControlClient

    @property
    def graph_endpoint(self) -> str:
        return f"{self.base}/v1.0"

    @property
    def ews_url(self) -> str:
        return self.emulator.ews_url

    def certificate_pem(self) -> str:
        return Path(self.cert_file).read_text()

    def private_key_pem(self) -> str:
        return Path(self.key_file).read_text()

    def thumbprint(self) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(Path(self.cert_file).read_bytes())
        der = cert.public_bytes(serialization.Encoding.DER)
        return hashlib.sha1(der, usedforsecurity=False).hexdigest()

    def new_mailbox_address(self) -> str:
        """A new mailbox on the emulator."""
        email = f"u{uuid.uuid4().hex[:10]}@example.com"
        self.control.create_mailbox(email, PASSWORD)
        return email


@contextlib.contextmanager
def start_graph_tenant(folder: Path) -> Iterator[GraphTenant]:
    cert, key = self_signed_certificate(folder, "server")
    app_cert, app_key = self_signed_certificate(folder, "app-cert")
    args = [
        "--tls", cert, key,
        "--tenant", TENANT,
        "--app", f"app-all:{SECRET}",
        "--app", f"app-mail:{SECRET}:Mail.ReadWrite",
        "--app", f"app-scoped:{SECRET}",
        "--app-scope", f"app-scoped:{SCOPED_MAILBOX}",
        "--app-cert", f"app-cert:{app_cert}",
    ]  # fmt: skip
    with run_emulator(
        folder / "graph.db", users=[(SCOPED_MAILBOX, PASSWORD)], extra_args=args
    ) as emulator:
        context = ssl.create_default_context(cafile=cert)
        base = emulator.ews_url.split("/EWS/")[0]
        yield GraphTenant(
            emulator, base, cert, app_cert, app_key, ControlClient(base, ssl_context=context)
        )


def graph_profile_fields(tenant: GraphTenant, **fields: Any) -> dict[str, Any]:
    """The fields of a Microsoft 365 (Graph) profile on the emulator's tenant (`app-all`)."""
    values: dict[str, Any] = {
        "name": f"Microsoft 365 {uuid.uuid4().hex[:6]}",
        "server_type": "microsoft_365",
        "oauth_tenant_id": TENANT,
        "oauth_client_id": "app-all",
        "oauth_client_secret": SECRET,
        "oauth_authority_host": tenant.base,
        "graph_endpoint": tenant.graph_endpoint,
        "incoming_server_location": "",
        "connection_timeout_ms": 30_000,
    }
    values.update(fields)
    return values


def expired_certificate() -> tuple[str, str, str]:
    """(certificate PEM, private key PEM, SHA-1 thumbprint) of a certificate that expired
    yesterday."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem,
        hashlib.sha1(der, usedforsecurity=False).hexdigest(),
    )
