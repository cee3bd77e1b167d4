"""(profile, mailbox) → connection settings, for every protocol: the one place that reads them.

A profile has an incoming side (EWS, POP3 or IMAP) and an outgoing side (EWS or SMTP); when
`use_same_settings_for_outgoing` is on, the outgoing side is the incoming one. Credentials come
from the profile (a service account, or impersonation on EWS) or from the mailbox. Nothing
here touches the database or a server: the settings are read off the objects passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.credentials import stored_password
from mailboxes.connectors.imap import ImapSettings
from mailboxes.connectors.pop3 import Pop3Settings
from mailboxes.connectors.smtp import SmtpSettings
from profiles.microsoft import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_GRAPH_ENDPOINT,
    EXCHANGE_ONLINE_EWS_URL,
    EXCHANGE_ONLINE_RESOURCE,
)

if TYPE_CHECKING:
    from mailboxes.models import Mailbox
    from profiles.models import EmailServerProfile

_Incoming = TypeVar("_Incoming", Pop3Settings, ImapSettings)


@dataclass(frozen=True)
class ServerSide:
    """One side (incoming or outgoing) of a profile, read field by field."""

    location: str
    port: int | None
    use_ssl: bool
    use_autodiscover: bool
    authentication_protocol: str
    credential_retrieval: str
    use_impersonation: bool
    username: str
    # The profile and its password field: the password is decrypted only when it is used.
    profile: EmailServerProfile = field(compare=False)
    credential_field: str

    def __repr__(self) -> str:
        return f"ServerSide(location={self.location!r}, username={self.username!r})"

    @property
    def password(self) -> str:
        return stored_password(self.profile, self.credential_field)


def profile_of(mailbox: Mailbox) -> EmailServerProfile:
    if mailbox.profile is None:
        raise PermanentSyncError("The mailbox has no email server profile.", code="no_profile")
    return mailbox.profile


def _side(p: EmailServerProfile, *, incoming: bool) -> ServerSide:
    """One side of the profile; each field named in full, so that types and searches see it."""
    return ServerSide(
        location=p.incoming_server_location if incoming else p.outgoing_server_location,
        port=p.incoming_port if incoming else p.outgoing_port,
        use_ssl=p.incoming_use_ssl if incoming else p.outgoing_use_ssl,
        use_autodiscover=p.incoming_use_autodiscover if incoming else p.outgoing_use_autodiscover,
        authentication_protocol=(
            p.incoming_authentication_protocol if incoming else p.outgoing_authentication_protocol
        ),
        credential_retrieval=(
            p.incoming_credential_retrieval if incoming else p.outgoing_credential_retrieval
        ),
        use_impersonation=(
            p.incoming_use_impersonation if incoming else p.outgoing_use_impersonation
        ),
        username=p.incoming_username if incoming else p.outgoing_username,
        profile=p,
        credential_field="incoming_password" if incoming else "outgoing_password",
    )


def incoming_side(profile: EmailServerProfile) -> ServerSide:
    return _side(profile, incoming=True)


def outgoing_side(profile: EmailServerProfile) -> ServerSide:
    """The outgoing fields, or the incoming ones when the profile uses the same for both."""
    return _side(profile, incoming=profile.use_same_settings_for_outgoing)


def credentials(side: ServerSide, mailbox: Mailbox) -> tuple[str, str]:
    """The profile's service account when the side says so, else the mailbox's own."""
    if side.credential_retrieval == "profile":
        return side.username, side.password
    return mailbox.username or mailbox.email_address, stored_password(mailbox, "password")


def _timeout(profile: EmailServerProfile) -> float:
    return max(1.0, profile.connection_timeout_ms / 1000)


# --- EWS ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EwsSettings:
    """Everything needed to reach one mailbox over EWS. `password` never appears in repr."""

    profile_id: int
    primary_smtp_address: str
    service_endpoint: str
    use_autodiscover: bool
    authentication_protocol: str
    username: str
    password: str
    use_impersonation: bool
    version: str
    timeout_seconds: float
    max_connections: int
    # OAuth2 (Exchange Online, modern authentication on premises): the Entra ID application
    # and the scope of its tokens; `username` is then the client id and `password` empty.
    oauth: AppCredentials | None = None
    oauth_scope: str = ""

    def __repr__(self) -> str:
        return (
            f"EwsSettings(profile={self.profile_id}, mailbox={self.primary_smtp_address!r}, "
            f"endpoint={self.service_endpoint!r}, username={self.username!r}, "
            f"impersonation={self.use_impersonation})"
        )

    @property
    def pool_key(self) -> tuple[Any, ...]:
        secret = hashlib.sha256(self.password.encode()).hexdigest()
        return (
            self.profile_id,
            self.oauth.cache_key if self.oauth else (),
            self.oauth_scope,
            self.service_endpoint,
            self.use_autodiscover,
            self.authentication_protocol,
            self.username,
            secret,
            self.version,
        )


def service_endpoint(location: str, *, port: int | None, use_ssl: bool) -> str:
    """The EWS URL from the profile's location: a full URL as is, a host name completed."""
    location = location.strip()
    if "://" in location:
        return location
    if not location:
        return ""
    scheme = "https" if use_ssl else "http"
    netloc = f"{location}:{port}" if port else location
    return f"{scheme}://{netloc}/EWS/Exchange.asmx"


def ews_settings(
    mailbox: Mailbox, profile: EmailServerProfile | None = None, *, outgoing: bool = False
) -> EwsSettings:
    """How to reach `mailbox` over EWS (the incoming side of its profile unless `outgoing`)."""
    profile = profile or profile_of(mailbox)
    side = outgoing_side(profile) if outgoing else incoming_side(profile)
    if profile.uses_app_credentials or "oauth" in (
        side.authentication_protocol,
        side.credential_retrieval,
    ):
        return _ews_oauth_settings(mailbox, profile, side)
    if side.use_impersonation:
        # The service account acts as each mailbox (EWS ExchangeImpersonation).
        username, password = side.username, side.password
    else:
        username, password = credentials(side, mailbox)
    if not username or not password:
        raise PermanentSyncError(
            "No credentials: set the mailbox's or the profile's user name and password.",
            code="missing_credentials",
        )
    endpoint = service_endpoint(side.location, port=side.port, use_ssl=side.use_ssl)
    if not endpoint and not side.use_autodiscover:
        raise PermanentSyncError(
            "The profile has no EWS URL and autodiscover is off.", code="no_server_location"
        )
    if side.use_autodiscover:
        check_autodiscover_domain(mailbox.email_address, profile.autodiscover_domain)
    return EwsSettings(
        profile_id=profile.pk,
        primary_smtp_address=mailbox.email_address,
        service_endpoint=endpoint,
        use_autodiscover=side.use_autodiscover,
        authentication_protocol=side.authentication_protocol,
        username=username,
        password=password,
        use_impersonation=side.use_impersonation,
        version=profile.exchange_version,
        timeout_seconds=profile.connection_timeout_ms / 1000,
        max_connections=max(1, min(profile.max_concurrent_connections, 4)),
    )


def _ews_oauth_settings(
    mailbox: Mailbox, profile: EmailServerProfile, side: ServerSide
) -> EwsSettings:
    """EWS as the profile's Entra ID application: app-only tokens act on each mailbox by
    impersonation (the application needs `full_access_as_app`, limited to the synced
    mailboxes by RBAC for Applications). Exchange Online's EWS URL and resource are the
    defaults of an Exchange Online profile; on premises the token is for the EWS host."""
    app = app_credentials(profile)
    online = profile.server_type == profile.ServerType.EXCHANGE_ONLINE
    endpoint = service_endpoint(side.location, port=side.port, use_ssl=side.use_ssl)
    endpoint = endpoint or (EXCHANGE_ONLINE_EWS_URL if online else "")
    if not endpoint:
        raise PermanentSyncError(
            "OAuth2 needs the EWS URL of the server (autodiscover is not used with OAuth2).",
            code="no_server_location",
        )
    parts = urlsplit(endpoint)
    resource = profile.oauth_resource.strip().rstrip("/") or (
        EXCHANGE_ONLINE_RESOURCE if online else f"{parts.scheme}://{parts.hostname}"
    )
    return EwsSettings(
        profile_id=profile.pk,
        primary_smtp_address=mailbox.email_address,
        service_endpoint=endpoint,
        use_autodiscover=False,
        authentication_protocol="oauth",
        username=app.client_id,
        password="",
        use_impersonation=True,
        version=profile.exchange_version,
        timeout_seconds=profile.connection_timeout_ms / 1000,
        max_connections=max(1, min(profile.max_concurrent_connections, 4)),
        oauth=app,
        oauth_scope=f"{resource}/.default",
    )


def check_autodiscover_domain(address: str, domain: str) -> None:
    """Autodiscover asks the address's domain where the mailbox lives, with the profile's
    credentials: it runs only for the domain the profile names, never one a user typed."""
    domain = domain.strip().lower()
    if not domain:
        raise PermanentSyncError(
            "Autodiscover is on, but the profile names no autodiscover domain.",
            code="no_autodiscover_domain",
        )
    if address.rpartition("@")[2].lower() != domain:
        raise PermanentSyncError(
            f"Autodiscover runs only for addresses in {domain}; {address} is not one.",
            code="autodiscover_domain_mismatch",
        )


# --- POP3, IMAP, SMTP -------------------------------------------------------------------------


def _incoming_host(side: ServerSide) -> str:
    if not side.location:
        raise PermanentSyncError(
            "the profile has no incoming server location", code="no_server_location"
        )
    return side.location


def _incoming_settings(mailbox: Mailbox, settings_class: type[_Incoming]) -> _Incoming:
    profile = profile_of(mailbox)
    side = incoming_side(profile)
    username, password = credentials(side, mailbox)
    return settings_class(
        host=_incoming_host(side),
        port=side.port,
        username=username,
        password=password,
        use_ssl=side.use_ssl,
        timeout=_timeout(profile),
    )


def pop3_settings(mailbox: Mailbox) -> Pop3Settings:
    return _incoming_settings(mailbox, Pop3Settings)


def imap_settings(mailbox: Mailbox) -> ImapSettings:
    return _incoming_settings(mailbox, ImapSettings)


def smtp_settings(mailbox: Mailbox) -> SmtpSettings:
    """SMTP: implicit TLS on port 465, STARTTLS when SSL is on otherwise, plaintext when off.

    The host falls back to the incoming one (one mail server for both); port and TLS are
    always the outgoing fields, which the profile form fills for SMTP.
    """
    profile = profile_of(mailbox)
    username, password = credentials(outgoing_side(profile), mailbox)
    host = profile.outgoing_server_location or profile.incoming_server_location
    if not host:
        raise PermanentSyncError(
            "the profile has no outgoing server location", code="no_server_location"
        )
    port = profile.outgoing_port
    if not profile.outgoing_use_ssl:
        security = "none"
    elif port == 465:
        security = "ssl"
    else:
        security = "starttls"
    return SmtpSettings(
        host=host,
        port=port,
        username=username,
        password=password,
        security=security,
        timeout=_timeout(profile),
    )


# --- Microsoft Entra ID applications: Graph, EWS with OAuth2 ---------------------------------


@dataclass(frozen=True)
class AppCredentials:
    """An Entra ID application as the client-credentials grant needs it: tenant, client id and
    a secret or a certificate (PEM private key with its SHA-1 thumbprint or its certificate).
    Secrets never appear in repr; `cache_key` holds a digest of them, not the values."""

    authority_host: str
    tenant_id: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)
    certificate: str = field(default="", repr=False)
    thumbprint: str = ""

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def uses_certificate(self) -> bool:
        return bool(self.private_key)

    def msal_credential(self) -> str | dict[str, str]:
        """`client_credential` of msal.ConfidentialClientApplication."""
        if not self.private_key:
            return self.client_secret
        credential = {"private_key": self.private_key}
        if self.certificate:
            # msal then signs with PS256 and sends the certificate's SHA-256 thumbprint.
            credential["public_certificate"] = self.certificate
        if self.thumbprint:
            credential["thumbprint"] = self.thumbprint
        return credential

    @property
    def cache_key(self) -> tuple[str, ...]:
        secret = "\0".join((self.client_secret, self.private_key, self.certificate))
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return (self.authority.lower(), self.client_id.lower(), self.thumbprint.lower(), digest)


@dataclass(frozen=True)
class GraphSettings:
    """Everything needed to reach one mailbox over Microsoft Graph."""

    profile_id: int
    mailbox_address: str
    app: AppCredentials
    endpoint: str  # https://graph.microsoft.com/v1.0
    timeout_seconds: float

    @property
    def user_url(self) -> str:
        """`{endpoint}/users/{address}/`: what a relative path is joined to."""
        return f"{self.endpoint.rstrip('/')}/users/{quote(self.mailbox_address, safe='@')}/"

    @property
    def scope(self) -> str:
        """The `.default` scope of the Graph resource the endpoint belongs to."""
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}/.default"


def app_credentials(profile: EmailServerProfile) -> AppCredentials:
    """The profile's Entra ID application; a permanent error says what is missing."""
    missing = [
        label
        for label, value in (
            ("tenant ID", profile.oauth_tenant_id),
            ("application (client) ID", profile.oauth_client_id),
        )
        if not value.strip()
    ]
    secret = stored_password(profile, "oauth_client_secret")
    private_key = stored_password(profile, "oauth_private_key")
    if not secret and not private_key:
        missing.append("client secret or certificate")
    if private_key and not (
        profile.oauth_certificate.strip() or profile.oauth_certificate_thumbprint
    ):
        missing.append("certificate or its thumbprint")
    if missing:
        raise PermanentSyncError(
            f"The profile “{profile}” lacks its application's {', '.join(missing)}.",
            code="missing_app_credentials",
        )
    return AppCredentials(
        authority_host=profile.oauth_authority_host.strip() or DEFAULT_AUTHORITY_HOST,
        tenant_id=profile.oauth_tenant_id.strip(),
        client_id=profile.oauth_client_id.strip(),
        client_secret=secret if not private_key else "",
        private_key=private_key,
        certificate=profile.oauth_certificate.strip(),
        thumbprint=profile.oauth_certificate_thumbprint.strip().replace(":", "").lower(),
    )


def graph_settings(profile: EmailServerProfile | None, mailbox: Mailbox) -> GraphSettings:
    """How to reach `mailbox` over Graph with its profile's application (the mailbox's
    profile when `profile` is None)."""
    profile = profile or profile_of(mailbox)
    if not profile.is_graph:
        raise PermanentSyncError(
            f"The profile “{profile}” is not a Microsoft 365 (Graph) profile.",
            code="not_a_graph_profile",
        )
    if not mailbox.email_address:
        raise PermanentSyncError("The mailbox has no email address.", code="no_email_address")
    return GraphSettings(
        profile_id=profile.pk,
        mailbox_address=mailbox.email_address.strip().lower(),
        app=app_credentials(profile),
        endpoint=(profile.graph_endpoint.strip() or DEFAULT_GRAPH_ENDPOINT).rstrip("/"),
        timeout_seconds=_timeout(profile),
    )
