"""Entra ID (Azure AD) on the emulator: registered applications and the v2.0 token endpoint.

Serves what `msal.ConfidentialClientApplication` and exchangelib's `OAuth2Credentials` read:
the OpenID discovery documents, the JWKS and `POST /{tenant}/oauth2/v2.0/token` with the
client-credentials grant, authenticated by a client secret or by a certificate (a signed
client assertion, RFC 7523). Access tokens are RS256 JWTs in the v1 shape Entra issues for
app-only tokens (`roles`, `appid`, `tid`, `idtyp: app`), signed by a key kept in the database
so that every emulator process on the same file accepts them.

Applications live in the table `entra_apps`: their roles (application permissions) and the
mailboxes they may reach (None: all of them; a list plays Exchange's RBAC for Applications /
application access policy). Secrets are kept as SHA-256 digests, never in clear.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .store import Mailbox, Store

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

# cryptography is imported where it is used: it would add a third to the emulator's
# start-up time, and most test emulators never sign a token.

GRAPH_ROLES = (
    "Mail.ReadWrite",
    "Mail.Send",
    "Calendars.ReadWrite",
    "Contacts.ReadWrite",
    "Tasks.ReadWrite",
)
EWS_ROLE = "full_access_as_app"
ALL_ROLES = (*GRAPH_ROLES, EWS_ROLE)
GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# Resource as named in `scope` -> (audience written into the token, roles that belong to it).
RESOURCES = {
    GRAPH_AUDIENCE: (GRAPH_AUDIENCE, GRAPH_ROLES),
    GRAPH_APP_ID: (GRAPH_AUDIENCE, GRAPH_ROLES),
    EXCHANGE_AUDIENCE: (EXCHANGE_AUDIENCE, (EWS_ROLE,)),
    "https://outlook.office.com": (EXCHANGE_AUDIENCE, (EWS_ROLE,)),
    EXCHANGE_APP_ID: (EXCHANGE_AUDIENCE, (EWS_ROLE,)),
}
TOKEN_LIFETIME = 3599
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
APPS_SCHEMA = """
CREATE TABLE IF NOT EXISTS entra_apps(
    client_id TEXT PRIMARY KEY COLLATE NOCASE,
    display_name TEXT NOT NULL,
    secret_sha256 TEXT,
    certificate_pem TEXT,
    roles TEXT NOT NULL,
    mailboxes TEXT
)
"""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class EntraError(Exception):
    """An OAuth error answer of the token endpoint, with its AADSTS code."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.status = status
        self.error = error
        self.code = code
        self.description = description

    def body(self) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description} "
            f"Trace ID: {trace} Correlation ID: {correlation} Timestamp: {now}",
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


class TokenError(Exception):
    """A bearer token a resource server refuses (expired, forged, wrong audience...)."""


@dataclass
class App:
    client_id: str
    display_name: str
    secret_sha256: str | None
    certificate_pem: str | None
    roles: frozenset[str]
    mailboxes: frozenset[str] | None  # lower-case addresses; None: every mailbox

    def may_reach(self, smtp: str) -> bool:
        return self.mailboxes is None or smtp.lower() in self.mailboxes


@dataclass
class AppPrincipal(Mailbox):
    """The caller behind an app-only token, as EWS sees it: no mailbox of its own.

    It may act on mailboxes through ExchangeImpersonation when its token has
    `full_access_as_app`, limited to the application's mailbox scope."""

    client_id: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    scope: frozenset[str] | None = None

    def may_reach(self, smtp: str) -> bool:
        return self.scope is None or smtp.lower() in self.scope


def _sign_rs256(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def split_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature); ValueError when it is no JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a JWT")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


def _verify(public_key: Any, alg: str, signing_input: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        if alg == "RS256":
            public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            public_key.verify(signature, signing_input, pss, hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Identity:
    """The tenant: its applications, signing key, token endpoint and token validation."""

    def __init__(self, store: Store, tenant: str | None = None) -> None:
        self.store = store
        self.tenant = tenant
        with store.write() as c:
            c.execute(APPS_SCHEMA)
        if tenant is None:
            self.tenant_id = str(uuid.UUID(bytes=hashlib.sha256(store.secret).digest()[:16]))
        else:
            try:
                self.tenant_id = str(uuid.UUID(tenant))
            except ValueError:
                self.tenant_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, tenant.lower()))
        self._key: rsa.RSAPrivateKey | None = None
        self._kid: str | None = None
        self._lock = threading.Lock()
        self._valid: dict[str, dict[str, Any]] = {}
        # Revocation (`revoke_tokens`): when each application's tokens were revoked, and
        # when each token (by its `uti`) was issued, to the microsecond.
        self._revoked: dict[str, float] = {}
        self._issued_at: dict[str, float] = {}
        # Tokens issued per application, and the lifetime of those issued from now on (the
        # tests of a client's cache and its refresh before expiry).
        self.issued: dict[str, int] = {}
        self.token_lifetime = TOKEN_LIFETIME

    # -- applications ----------------------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate_pem: str | None = None,
        roles: list[str] | tuple[str, ...] | None = None,
        mailboxes: list[str] | None = None,
        display_name: str | None = None,
    ) -> App:
        """Create or replace an application registration (no roles given: all of them)."""
        if not client_id.strip():
            raise ValueError("an application needs a client id")
        if secret is None and certificate_pem is None:
            raise ValueError(f"application {client_id} needs a secret or a certificate")
        chosen = tuple(roles) if roles else ALL_ROLES
        unknown = sorted(set(chosen) - set(ALL_ROLES))
        if unknown:
            raise ValueError(f"unknown roles {unknown}; known: {', '.join(ALL_ROLES)}")
        if certificate_pem is not None:
            from cryptography import x509

            x509.load_pem_x509_certificate(certificate_pem.encode())  # ValueError if not PEM
        with self.store.write() as c:
            c.execute(
                "INSERT OR REPLACE INTO entra_apps(client_id, display_name, secret_sha256, "
                "certificate_pem, roles, mailboxes) VALUES(?,?,?,?,?,?)",
                (
                    client_id,
                    display_name or f"App {client_id}",
                    _secret_digest(secret) if secret is not None else None,
                    certificate_pem,
                    json.dumps(sorted(chosen)),
                    json.dumps(sorted(m.lower() for m in mailboxes))
                    if mailboxes is not None
                    else None,
                ),
            )
        app = self.app(client_id)
        assert app is not None
        return app

    def app(self, client_id: str) -> App | None:
        row = self.store.conn.execute(
            "SELECT client_id, display_name, secret_sha256, certificate_pem, roles, mailboxes "
            "FROM entra_apps WHERE client_id = ?",
            (client_id,),
        ).fetchone()
        if row is None:
            return None
        return App(
            row[0],
            row[1],
            row[2],
            row[3],
            frozenset(json.loads(row[4])),
            frozenset(json.loads(row[5])) if row[5] is not None else None,
        )

    def apps(self) -> list[App]:
        rows = self.store.conn.execute("SELECT client_id FROM entra_apps ORDER BY client_id")
        return [a for a in (self.app(r[0]) for r in rows.fetchall()) if a is not None]

    # -- signing key -----------------------------------------------------------------------

    @property
    def key(self) -> rsa.RSAPrivateKey:
        """The tenant's signing key, made on first use and kept in the database."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        if self._key is not None:
            return self._key
        with self._lock:
            if self._key is None:
                with self.store.write() as c:
                    row = c.execute("SELECT value FROM meta WHERE key = 'entra_key'").fetchone()
                    if row is None:
                        made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                        pem = made.private_bytes(
                            serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption(),
                        ).decode()
                        c.execute("INSERT INTO meta(key, value) VALUES('entra_key', ?)", (pem,))
                    else:
                        pem = row[0]
                loaded = serialization.load_pem_private_key(pem.encode(), password=None)
                assert isinstance(loaded, rsa.RSAPrivateKey)
                self._key = loaded
        return self._key

    @property
    def kid(self) -> str:
        """The key id (SHA-1 of the public key), computed once."""
        if self._kid is None:
            from cryptography.hazmat.primitives import serialization

            der = self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self._kid = b64url(hashlib.sha1(der, usedforsecurity=False).digest())
        return self._kid

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.kid,
                    "n": b64url(n),
                    "e": b64url(e),
                    "issuer": f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
                }
            ]
        }

    # -- discovery -------------------------------------------------------------------------

    def knows_tenant(self, tenant: str) -> bool:
        if self.tenant is None:
            return True
        return tenant.lower() in (self.tenant.lower(), self.tenant_id)

    def openid_configuration(self, base: str, tenant: str, v2: bool = True) -> dict[str, Any]:
        prefix = f"{base}/{tenant}"
        version = "/v2.0" if v2 else ""
        return {
            "token_endpoint": f"{prefix}/oauth2{version}/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{prefix}/discovery{version}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"https://login.microsoftonline.com/{self.tenant_id}/v2.0"
            if v2
            else f"https://sts.windows.net/{self.tenant_id}/",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{prefix}/oauth2{version}/authorize",
            "device_authorization_endpoint": f"{prefix}/oauth2{version}/devicecode",
            "end_session_endpoint": f"{prefix}/oauth2{version}/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "roles"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }

    def instance_discovery(self, base: str, authorization_endpoint: str) -> dict[str, Any]:
        tenant = authorization_endpoint.split("/")[3] if authorization_endpoint else "common"
        return {
            "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [],
        }

    # -- the token endpoint ----------------------------------------------------------------

    def issue(self, tenant: str, form: dict[str, str], token_url: str) -> dict[str, Any]:
        """Answer a token request; EntraError carries the error Entra ID would give."""
        if not self.knows_tenant(tenant):
            raise EntraError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
        grant = form.get("grant_type", "")
        if not grant:
            raise EntraError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        if grant != "client_credentials":
            raise EntraError(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type "
                f"'{grant}'; this emulator serves client_credentials only.",
            )
        client_id = form.get("client_id", "")
        assertion = form.get("client_assertion")
        if not client_id and assertion:
            try:
                client_id = str(split_jwt(assertion)[1].get("iss", ""))
            except ValueError:
                client_id = ""
        if not client_id:
            raise EntraError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        app = self.app(client_id)
        if app is None:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
            )
        secret = form.get("client_secret")
        if secret is not None:
            if app.secret_sha256 is None or not hmac.compare_digest(
                _secret_digest(secret), app.secret_sha256
            ):
                raise EntraError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{app.client_id}'.",
                )
        elif assertion is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise EntraError(
                    400,
                    "invalid_request",
                    50027,
                    f"Invalid JWT token: the client_assertion_type must be '{ASSERTION_TYPE}'.",
                )
            self._check_assertion(app, assertion, token_url)
        else:
            raise EntraError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        scope = form.get("scope", "").strip()
        resource = scope.removesuffix("/.default").rstrip("/")
        if not scope.endswith("/.default") or " " in scope:
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if resource not in RESOURCES:
            raise EntraError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant}. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
            )
        audience, resource_roles = RESOURCES[resource]
        roles = sorted(app.roles & set(resource_roles))
        lifetime = self.token_lifetime
        claims = self._claims(app.client_id, audience, roles, int(time.time()), lifetime)
        with self._lock:
            if len(self._issued_at) > 10_000:
                self._issued_at.clear()
            self._issued_at[claims["uti"]] = time.time()
            self.issued[app.client_id] = self.issued.get(app.client_id, 0) + 1
        claims["app_displayname"] = app.display_name
        claims["appidacr"] = "2" if assertion is not None else "1"
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": _sign_rs256(self.key, header, claims),
        }

    def _claims(
        self, client_id: str, audience: str, roles: list[str], issued: int, lifetime: int
    ) -> dict[str, Any]:
        principal_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}"))
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "appid": client_id,
            "idp": f"https://sts.windows.net/{self.tenant_id}/",
            "idtyp": "app",
            "oid": principal_id,
            "sub": principal_id,
            "tid": self.tenant_id,
            "uti": b64url(uuid.uuid4().bytes),
            "ver": "1.0",
        }
        if roles:
            claims["roles"] = roles
        return claims

    def _check_assertion(self, app: App, assertion: str, token_url: str) -> None:
        def invalid(code: int, text: str) -> EntraError:
            return EntraError(401, "invalid_client", code, text)

        try:
            header, claims, signing_input, signature = split_jwt(assertion)
        except ValueError:
            raise invalid(50027, "JWT token is invalid or malformed.") from None
        if app.certificate_pem is None:
            raise invalid(
                700027,
                f"The certificate with identifier used to sign the client assertion is not "
                f"registered on application. [Reason - The key was not found.] Please visit "
                f"the Azure Portal to register the certificate for app '{app.client_id}'.",
            )
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(app.certificate_pem.encode())
        der = cert.public_bytes(serialization.Encoding.DER)
        thumbprints = {
            header.get("x5t"): hashlib.sha1(der, usedforsecurity=False).digest(),
            header.get("x5t#S256"): hashlib.sha256(der).digest(),
        }
        known = any(
            isinstance(value, str) and b64url_decode(value) == digest
            for value, digest in thumbprints.items()
            if value
        )
        if not known:
            raise invalid(
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                "registered on application. [Reason - The key was not found.] Please visit the "
                f"Azure Portal to register the certificate for app '{app.client_id}'.",
            )
        if not _verify(cert.public_key(), str(header.get("alg")), signing_input, signature):
            raise invalid(700027, "Client assertion contains an invalid signature.")
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if not start <= dt.datetime.now(dt.UTC) <= end:
            # The key credential uploaded to the application is past its end date.
            used = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
            raise invalid(
                700027,
                "Client assertion contains an invalid signature. [Reason - The key used is "
                f"expired., Thumbprint of key used by client: '{used}', Found key "
                f"'Start={start:%m/%d/%Y %H:%M:%S}, End={end:%m/%d/%Y %H:%M:%S}']",
            )
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise invalid(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if token_url not in audiences:
            raise invalid(
                700212,
                f"No matching federated identity record found for presented assertion "
                f"audience '{audiences[0]}'; the audience must be the token endpoint {token_url}.",
            )
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, int | float) or exp < now - 300 or nbf > now + 300:
            raise invalid(700024, "Client assertion is not within its valid time range.")

    # -- resource servers ------------------------------------------------------------------

    def validate(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of a bearer token for `audience`; TokenError says why not."""
        claims = self._valid.get(token)
        if claims is None:
            try:
                header, claims, signing_input, signature = split_jwt(token)
            except ValueError:
                raise TokenError("IDX14100: JWT is not well formed.") from None
            if header.get("kid") != self.kid or not _verify(
                self.key.public_key(), str(header.get("alg")), signing_input, signature
            ):
                raise TokenError("Access token validation failure: invalid signature.")
            if len(self._valid) > 10_000:
                self._valid.clear()
            self._valid[token] = claims
        if claims.get("aud") != audience:
            raise TokenError("Access token validation failure. Invalid audience.")
        if float(claims.get("exp", 0)) < time.time():
            raise TokenError("Lifetime validation failed, the token is expired.")
        revoked = self._revoked.get(str(claims.get("appid", "")))
        if revoked is not None:
            issued = self._issued_at.get(str(claims.get("uti", "")), float(claims.get("iat", 0)))
            if issued <= revoked:
                raise TokenError("The access token has been revoked.")
        return claims

    def revoke_tokens(self, client_id: str) -> None:
        """Refuse every token the application was issued until now, before it expires (as
        continuous access evaluation for workload identities does after a critical event);
        tokens issued later are valid."""
        with self._lock:
            self._revoked[client_id] = time.time()

    def principal(self, claims: dict[str, Any]) -> AppPrincipal:
        """An app-only caller with the roles of its token and its application's scope."""
        client_id = str(claims.get("appid", ""))
        app = self.app(client_id)
        return AppPrincipal(
            id=0,
            smtp=f"{client_id}@apps.emulator",
            display_name=app.display_name if app else client_id,
            password="",
            is_impersonator=EWS_ROLE in (claims.get("roles") or ()),
            has_mailbox=False,
            client_id=client_id,
            roles=frozenset(claims.get("roles") or ()),
            scope=app.mailboxes if app else frozenset(),
        )

    def mint_expired(self, client_id: str, audience: str) -> str:
        """A correctly signed token that expired a minute ago (fault injection, tests)."""
        app = self.app(client_id)
        roles = sorted(app.roles) if app else []
        claims = self._claims(client_id, audience, roles, int(time.time()) - 3660, 3600)
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        return _sign_rs256(self.key, header, claims)
