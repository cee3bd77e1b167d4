"""App-only access tokens from Microsoft Entra ID, by msal's client-credentials grant.

One `msal.ConfidentialClientApplication` per application (authority, client id, credential)
and worker process: msal keeps its tokens in memory and hands out the cached one until it
nears expiry (it refreshes five minutes ahead, or at the token's `refresh_in`), so a worker
asks Entra ID about once an hour per application, whatever the number of mailboxes.

msal talks through a `requests` session of our own: `trust_env` off (no proxy or CA bundle
from the environment behind the administrator's back), certificates checked against
`CRMSYNC_MICROSOFT_CA_BUNDLE` when set. Instance discovery is off: it would ask
login.microsoftonline.com about every other authority host (a national cloud, the emulator).

Nothing here logs a secret or a token; a refused request becomes a `SyncError` whose
message says what the administrator should change (`explain_token_error`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from typing import Any

import msal
import requests
from django.conf import settings

from mailboxes.connectors import (
    ErrorKind,
    PermanentSyncError,
    SyncError,
    TransientSyncError,
    authentication_failed,
    network_error,
)
from mailboxes.connectors.settings import AppCredentials

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_apps: dict[tuple[str, ...], msal.ConfidentialClientApplication] = {}
# `refused`: applications whose refused token was dropped (the next token issued to them
# replaces it), and the tokens issued so (a refusal of one of them is not retried).
_replacing: set[tuple[str, ...]] = set()
_replacements: dict[str, None] = {}


def http_session() -> requests.Session:
    """A session for Microsoft's endpoints: no proxy or CA bundle taken from the environment
    (requests lets REQUESTS_CA_BUNDLE override `verify`), our CA bundle when configured."""
    return microsoft_tls(requests.Session())


def microsoft_tls(session: requests.Session) -> requests.Session:
    """`session` made to check certificates as Microsoft's endpoints are checked: nothing
    from the environment, our CA bundle when configured (EWS with OAuth2 too)."""
    session.trust_env = False
    bundle = getattr(settings, "CRMSYNC_MICROSOFT_CA_BUNDLE", "")
    session.verify = bundle or True
    return session


def _forget_all() -> None:
    """A forked worker process starts without its parent's applications and sockets."""
    _apps.clear()
    _replacing.clear()
    _replacements.clear()


os.register_at_fork(after_in_child=_forget_all)


def msal_app(app: AppCredentials, *, timeout: float = 30.0) -> msal.ConfidentialClientApplication:
    """The process's msal application for these credentials, made on first use."""
    key = app.cache_key
    with _lock:
        found = _apps.get(key)
    if found is not None:
        return found
    check_certificate(app)
    try:
        made = msal.ConfidentialClientApplication(
            app.client_id,
            client_credential=app.msal_credential(),
            authority=app.authority,
            instance_discovery=False,
            http_client=http_session(),
            timeout=timeout,
        )
    except requests.RequestException as e:
        raise network_error(f"Microsoft Entra ID at {app.authority_host}", e) from None
    except ValueError as e:
        # msal could not read the tenant's OpenID configuration (unknown tenant, not an
        # authority), or could not load the private key.
        raise _construction_error(app, e) from None
    with _lock:
        return _apps.setdefault(key, made)


def _construction_error(app: AppCredentials, e: ValueError) -> PermanentSyncError:
    text = str(e)
    if "authority" in text.lower() or "tenant" in text.lower():
        return PermanentSyncError(
            f"Microsoft Entra ID at {app.authority_host} does not know the tenant "
            f"“{app.tenant_id}”: check the tenant id (Directory (tenant) ID on the "
            "application's overview page) and the authority host.",
            code="unknown_tenant",
        )
    return PermanentSyncError(
        "The certificate's private key cannot be read: paste the PEM private key "
        "(-----BEGIN PRIVATE KEY-----) of the certificate uploaded to the application.",
        code="bad_private_key",
    )


def check_certificate(app: AppCredentials) -> None:
    """Refuse a certificate that cannot work, before Entra ID is asked: a private key that
    cannot be read; expired or not yet valid, or not the private key's, when the profile
    holds the certificate itself (a thumbprint alone leaves that to Entra ID's answer)."""
    if not app.private_key:
        return
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(app.private_key.encode(), password=None)
        if not app.certificate:
            return
        cert = x509.load_pem_x509_certificate(app.certificate.encode())
    except (ValueError, TypeError):
        raise PermanentSyncError(
            "The certificate or its private key cannot be read: paste both in PEM form "
            "(-----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY-----, unencrypted).",
            code="bad_certificate",
        ) from None
    now = dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc < now:
        raise authentication_failed(
            f"The application's certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}: "
            "create a new certificate, upload it to the application (Certificates & secrets) "
            "and enter it and its private key in the profile.",
            code="certificate_expired",
        )
    if cert.not_valid_before_utc > now:
        raise authentication_failed(
            f"The application's certificate is valid only from "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
            code="certificate_not_yet_valid",
        )
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if cert.public_key().public_bytes(encoding, public) != key.public_key().public_bytes(
        encoding, public
    ):
        raise PermanentSyncError(
            "The private key does not belong to the certificate: enter the key the "
            "certificate was made with.",
            code="certificate_key_mismatch",
        )


def access_token(app: AppCredentials, scope: str, *, timeout: float = 30.0) -> str:
    """A valid access token for `scope` (`https://graph.microsoft.com/.default`), cached."""
    return access_token_and_lifetime(app, scope, timeout=timeout)[0]


def access_token_and_lifetime(
    app: AppCredentials, scope: str, *, timeout: float = 30.0
) -> tuple[str, int]:
    """A valid access token for `scope` and the seconds it has left."""
    client = msal_app(app, timeout=timeout)
    try:
        result = client.acquire_token_for_client(scopes=[scope])
    except requests.RequestException as e:
        raise network_error(f"Microsoft Entra ID at {app.authority_host}", e) from None
    except ValueError as e:
        # msal raises on an answer that is not JSON (a proxy's error page, a 5xx).
        raise TransientSyncError(
            f"Microsoft Entra ID gave an answer that is not a token response: {e}",
            code="token_endpoint_error",
            kind=ErrorKind.SERVER,
        ) from None
    token = result.get("access_token") if isinstance(result, dict) else None
    if isinstance(token, str) and token:
        with _lock:
            if app.cache_key in _replacing:
                _replacing.discard(app.cache_key)
                if len(_replacements) >= 256:
                    _replacements.pop(next(iter(_replacements)))
                _replacements[token] = None
        return token, int(result.get("expires_in") or 0)
    raise explain_token_error(app, result if isinstance(result, dict) else {})


def forget_token(app: AppCredentials, token: str) -> None:
    """Drop `token` from the cache (the resource server refused it), so that the next
    `access_token` asks Entra ID for a new one."""
    with _lock:
        client = _apps.get(app.cache_key)
    if client is None:
        return
    cache = client.token_cache
    for entry in list(
        cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, query={"secret": token})
    ):
        cache.remove_at(entry)


def refused(app: AppCredentials, token: str) -> bool:
    """A resource server answered 401 to `token` (revoked before its expiry, or the
    application's permissions changed). True: the token was dropped from the cache and the
    call may be sent once more, with the new token the next `access_token` asks Entra ID
    for. False: `token` was itself such a new token, and a second refusal is an
    authentication failure (it is dropped as well, so that a later call starts afresh)."""
    with _lock:
        replacement = token in _replacements
        _replacements.pop(token, None)
        if not replacement:
            _replacing.add(app.cache_key)
    forget_token(app, token)
    return not replacement


def accepted(token: str) -> None:
    """A resource server accepted `token`: should it be refused later (revoked again), it
    is dropped and replaced like any other, not counted as a second refusal."""
    if token in _replacements:
        with _lock:
            _replacements.pop(token, None)


# AADSTS codes an administrator can act on: (error kind, what to do).
_TOKEN_ERRORS: dict[int, tuple[ErrorKind, str, str]] = {
    7000215: (
        ErrorKind.AUTHENTICATION,
        "wrong_client_secret",
        "Microsoft Entra ID refused the client secret: enter the secret's Value (not its "
        "Secret ID) from Certificates & secrets of the application.",
    ),
    7000222: (
        ErrorKind.AUTHENTICATION,
        "client_secret_expired",
        "The application's client secret has expired: create a new one under Certificates "
        "& secrets and enter it in the profile.",
    ),
    700027: (
        ErrorKind.AUTHENTICATION,
        "certificate_refused",
        "Microsoft Entra ID refused the certificate: upload this certificate to the "
        "application (Certificates & secrets) and check that the private key belongs to it "
        "and that it has not expired.",
    ),
    700016: (
        ErrorKind.CONFIGURATION,
        "unknown_application",
        "Microsoft Entra ID has no application with this client id in the tenant: check the "
        "Application (client) ID, and that an administrator consented to it in this tenant.",
    ),
    90002: (
        ErrorKind.CONFIGURATION,
        "unknown_tenant",
        "Microsoft Entra ID does not know this tenant: check the Directory (tenant) ID.",
    ),
    500011: (
        ErrorKind.CONFIGURATION,
        "resource_not_in_tenant",
        "The tenant has no such resource; an administrator must grant consent to the "
        "application's API permissions.",
    ),
    7000218: (
        ErrorKind.CONFIGURATION,
        "missing_app_credentials",
        "The application needs a client secret or a certificate.",
    ),
}


def explain_token_error(app: AppCredentials, result: dict[str, Any]) -> SyncError:
    """The error of a refused token request, in words an administrator can act on."""
    codes = result.get("error_codes") or []
    description = str(result.get("error_description") or result.get("error") or "no answer")
    # Entra's description ends with trace and correlation ids: useful to Microsoft support.
    first_line = description.splitlines()[0] if description else ""
    for code in codes:
        known = _TOKEN_ERRORS.get(int(code)) if str(code).isdigit() else None
        if known is None:
            continue
        kind, short, advice = known
        if int(code) == 700027 and "expired" in description.lower():
            short, advice = (
                "certificate_expired",
                "The application's certificate has expired: upload a new certificate to the "
                "application and enter its private key and certificate in the profile.",
            )
        message = f"{advice} (application {app.client_id}; Entra ID said: {first_line})"
        if kind is ErrorKind.AUTHENTICATION:
            return authentication_failed(message, code=short)
        return PermanentSyncError(message, code=short, kind=kind)
    error = str(result.get("error") or "")
    if error in ("temporarily_unavailable", "server_error") or not result:
        return TransientSyncError(
            f"Microsoft Entra ID could not issue a token: {first_line}",
            code="token_endpoint_error",
            kind=ErrorKind.SERVER,
        )
    return authentication_failed(
        f"Microsoft Entra ID refused a token to application {app.client_id}: {first_line}",
        code=error or "token_refused",
    )


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, unverified: for telling an administrator what the
    token allows (its `roles`), never for trusting it. Empty when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_roles(token: str) -> frozenset[str]:
    roles = token_claims(token).get("roles") or ()
    return frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()
