"""What each server type needs, checked when a profile is saved through a form or the API,
when Activate turns one on, and when code saves one (`profiles/saving.py`); the health
dashboard names an active profile that breaks them anyway.

- Exchange Server (EWS): an EWS URL, or autodiscover; with OAuth authentication, the
  application as below.
- Exchange Online (EWS, OAuth2) and Microsoft 365 (Graph): an Entra ID application: tenant
  id, client id, and a client secret or a certificate's private key with the certificate or
  its SHA-1 thumbprint; HTTPS authority host and Graph endpoint.
- POP3 + SMTP, IMAP + SMTP: the incoming server's host name (SMTP falls back to it).

Encrypted fields are read as stored during validation (`EncryptedFieldsModel.full_clean`):
only their presence is checked, and a newly typed private key (plaintext, not yet encrypted)
is parsed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crmsync.crypto import Ciphertext

if TYPE_CHECKING:
    from profiles.models import EmailServerProfile

NO_CREDENTIAL = "Enter a client secret, or a certificate's private key."
THUMBPRINT = re.compile(r"^[0-9a-f]{40}$")


def rule_errors(profile: EmailServerProfile) -> dict[str, str]:
    """Every rule `EmailServerProfile.clean` checks, as {field: what is wrong}: the
    autodiscover domain, and what the server type needs."""
    uses_autodiscover = profile.incoming_use_autodiscover or (
        profile.outgoing_use_autodiscover and not profile.use_same_settings_for_outgoing
    )
    profile.autodiscover_domain = profile.autodiscover_domain.strip().lower()
    errors: dict[str, str] = {}
    if uses_autodiscover and not profile.autodiscover_domain:
        errors["autodiscover_domain"] = "Name the domain autodiscover may run for."
    errors.update(server_type_errors(profile))
    return errors


def server_type_errors(profile: EmailServerProfile) -> dict[str, str]:
    types = type(profile).ServerType
    errors: dict[str, str] = {}
    oauth = profile.incoming_authentication_protocol == "oauth"
    if profile.server_type in (types.MICROSOFT_365, types.EXCHANGE_ONLINE) or (
        profile.server_type == types.EXCHANGE and oauth
    ):
        errors.update(application_errors(profile))
    if profile.server_type == types.EXCHANGE:
        if not profile.incoming_server_location.strip() and not (
            profile.incoming_use_autodiscover and not oauth
        ):
            errors["incoming_server_location"] = (
                "Enter the EWS URL (https://mail.example.com/EWS/Exchange.asmx)"
                + (", or turn on autodiscover." if not oauth else "; OAuth needs it.")
            )
    elif (
        profile.server_type in (types.POP3_SMTP, types.IMAP_SMTP)
        and not profile.incoming_server_location.strip()
    ):
        protocol = "POP3" if profile.server_type == types.POP3_SMTP else "IMAP"
        errors["incoming_server_location"] = f"Enter the {protocol} server's host name."
    return errors


def application_errors(profile: EmailServerProfile) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not profile.oauth_tenant_id.strip():
        errors["oauth_tenant_id"] = (
            "Enter the Directory (tenant) ID from the application's overview page."
        )
    if not profile.oauth_client_id.strip():
        errors["oauth_client_id"] = "Enter the Application (client) ID."
    secret, key = profile.oauth_client_secret, profile.oauth_private_key
    if not secret and not key:
        errors["oauth_client_secret"] = NO_CREDENTIAL
    thumbprint = re.sub(r"[\s:]", "", profile.oauth_certificate_thumbprint).lower()
    profile.oauth_certificate_thumbprint = thumbprint
    if thumbprint and not THUMBPRINT.match(thumbprint):
        errors["oauth_certificate_thumbprint"] = (
            "A SHA-1 thumbprint is 40 hexadecimal digits (as Certificates & secrets shows it)."
        )
    certificate = profile.oauth_certificate.strip()
    if key and not certificate and not thumbprint:
        errors["oauth_certificate"] = "Enter the certificate, or its thumbprint."
    errors.update(_certificate_errors(certificate, key))
    for name in ("oauth_authority_host", "graph_endpoint"):
        if not str(getattr(profile, name)).startswith("https://"):
            errors[name] = "Microsoft's endpoints are reached over HTTPS: enter an https:// URL."
    return errors


def _certificate_errors(certificate: str, key: str) -> dict[str, str]:
    """The certificate and a newly typed private key must be readable PEM and belong
    together. A stored key (encrypted) is not decrypted here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    errors: dict[str, str] = {}
    cert = None
    if certificate:
        try:
            cert = x509.load_pem_x509_certificate(certificate.encode())
        except ValueError:
            errors["oauth_certificate"] = "Not a PEM certificate (-----BEGIN CERTIFICATE----- …)."
    if key and not isinstance(key, Ciphertext):
        try:
            private = serialization.load_pem_private_key(key.encode(), password=None)
        except (ValueError, TypeError):
            errors["oauth_private_key"] = (
                "Not an unencrypted PEM private key (-----BEGIN PRIVATE KEY----- …)."
            )
            return errors
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if cert is not None and cert.public_key().public_bytes(der, spki) != (
            private.public_key().public_bytes(der, spki)
        ):
            errors["oauth_private_key"] = "This private key does not belong to the certificate."
    return errors
