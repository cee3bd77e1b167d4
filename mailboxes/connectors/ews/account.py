"""(profile, mailbox) → a configured exchangelib Account, with connections pooled per profile.

Nothing here touches the database: the settings are read off the profile and mailbox
objects the caller passes. exchangelib keeps one `Protocol` (an HTTP session pool) per
service endpoint and credentials; we keep one `Configuration` per profile and credentials on
top of it, so every mailbox of a profile that syncs through a service account shares one
connection pool in a worker process, and per-mailbox credentials get a small LRU of pools.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    Account,
    Configuration,
    Credentials,
    FailFast,
    Version,
)
from exchangelib.protocol import BaseProtocol, CachingProtocol, Protocol
from exchangelib.version import EXCHANGE_2010_SP2, EXCHANGE_2013, EXCHANGE_2016, EXCHANGE_2019

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.ews.errors import exchange_errors

if TYPE_CHECKING:
    from mailboxes.models import Mailbox
    from profiles.models import EmailServerProfile

logger = logging.getLogger(__name__)

_VERSIONS = {
    "2010_sp2": EXCHANGE_2010_SP2,
    "2013": EXCHANGE_2013,
    "2016": EXCHANGE_2016,
    "2019": EXCHANGE_2019,
}
_AUTH_TYPES: dict[str, str | None] = {"auto_detect": None, "ntlm": NTLM, "basic": BASIC}

# Per-mailbox credentials each get their own exchangelib Protocol (session pool); keep the
# most recently used ones open, close the rest.
MAX_POOLED_CREDENTIALS = 64


@dataclass(frozen=True)
class EwsSettings:
    """Everything needed to reach one mailbox over EWS. `password` never appears in repr."""

    profile_id: int
    primary_smtp_address: str
    service_endpoint: str
    use_autodiscover: bool
    auth_type: str | None
    username: str
    password: str
    use_impersonation: bool
    version: str
    timeout_seconds: float
    max_connections: int

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
            self.service_endpoint,
            self.use_autodiscover,
            self.auth_type,
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


def settings_for(
    mailbox: Mailbox, profile: EmailServerProfile | None = None, *, outgoing: bool = False
) -> EwsSettings:
    """Read how to reach `mailbox` from its profile (the incoming side unless `outgoing`)."""
    profile = profile or mailbox.profile
    if profile is None:
        raise PermanentSyncError("The mailbox has no email server profile.", code="no_profile")
    side = "outgoing" if outgoing and not profile.use_same_settings_for_outgoing else "incoming"
    location: str = getattr(profile, f"{side}_server_location")
    auth_protocol: str = getattr(profile, f"{side}_authentication_protocol")
    retrieval: str = getattr(profile, f"{side}_credential_retrieval")
    use_impersonation: bool = getattr(profile, f"{side}_use_impersonation")
    use_autodiscover: bool = getattr(profile, f"{side}_use_autodiscover")
    if auth_protocol == "oauth" or retrieval == "oauth":
        raise PermanentSyncError(
            "OAuth is not supported by the EWS connector yet; use Basic or NTLM.",
            code="oauth_not_supported",
        )
    if retrieval == "profile" or use_impersonation:
        username = getattr(profile, f"{side}_username")
        password = getattr(profile, f"{side}_password")
    else:
        username = mailbox.username or mailbox.email_address
        password = mailbox.password
    if not username or not password:
        raise PermanentSyncError(
            "No credentials: set the mailbox's or the profile's user name and password.",
            code="missing_credentials",
        )
    endpoint = service_endpoint(
        location,
        port=getattr(profile, f"{side}_port"),
        use_ssl=getattr(profile, f"{side}_use_ssl"),
    )
    if not endpoint and not use_autodiscover:
        raise PermanentSyncError(
            "The profile has no EWS URL and autodiscover is off.", code="no_server_location"
        )
    return EwsSettings(
        profile_id=profile.pk,
        primary_smtp_address=mailbox.email_address,
        service_endpoint=endpoint,
        use_autodiscover=use_autodiscover,
        auth_type=_AUTH_TYPES.get(auth_protocol),
        username=username,
        password=password,
        use_impersonation=use_impersonation,
        version=profile.exchange_version,
        timeout_seconds=profile.connection_timeout_ms / 1000,
        max_connections=max(1, min(profile.max_concurrent_connections, 4)),
    )


class _ConfigurationPool:
    """One exchangelib Configuration per profile and credentials, least recently used first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._configs: OrderedDict[tuple[Any, ...], Configuration] = OrderedDict()

    def get(self, settings: EwsSettings) -> Configuration:
        key = settings.pool_key
        with self._lock:
            config = self._configs.get(key)
            if config is not None:
                self._configs.move_to_end(key)
                return config
            config = Configuration(
                service_endpoint=settings.service_endpoint or None,
                credentials=Credentials(settings.username, settings.password),
                auth_type=settings.auth_type,
                version=Version(build=_VERSIONS.get(settings.version, EXCHANGE_2016)),
                # Never sleep in a worker: a busy server postpones the mailbox instead.
                retry_policy=FailFast(),
                max_connections=settings.max_connections,
            )
            self._configs[key] = config
            while len(self._configs) > MAX_POOLED_CREDENTIALS:
                _, evicted = self._configs.popitem(last=False)
                _close_protocol(evicted)
            return config

    def discard(self, settings: EwsSettings) -> None:
        """Forget a configuration whose protocol failed to start (exchangelib caches that)."""
        with self._lock:
            config = self._configs.pop(settings.pool_key, None)
        if config is not None:
            _close_protocol(config)

    def close_all(self) -> None:
        with self._lock:
            configs = list(self._configs.values())
            self._configs.clear()
        for config in configs:
            _close_protocol(config)


def _close_protocol(config: Configuration) -> None:
    if not config.service_endpoint:
        return
    try:
        protocol, _ = Protocol[config]
    except KeyError:
        return
    if isinstance(protocol, Exception):
        del Protocol[config]
        return
    protocol.close()
    del Protocol[config]


_pool = _ConfigurationPool()


def account_for(mailbox: Mailbox, profile: EmailServerProfile | None = None) -> Account:
    """A ready exchangelib Account for `mailbox`, sharing its profile's connection pool.

    Raises `PermanentSyncError` for settings that cannot work (no credentials, OAuth) and
    translates exchangelib failures at connection time (autodiscover, auth detection).
    Creating the account makes no request when autodiscover is off and the version is set.
    """
    settings = settings_for(mailbox, profile)
    return account_from_settings(settings)


def account_from_settings(settings: EwsSettings) -> Account:
    config = _pool.get(settings)
    access_type = IMPERSONATION if settings.use_impersonation else DELEGATE
    try:
        with exchange_errors():
            if settings.use_autodiscover:
                account = Account(
                    primary_smtp_address=settings.primary_smtp_address,
                    config=config,
                    credentials=config.credentials,
                    autodiscover=True,
                    access_type=access_type,
                    default_timezone=None,
                )
            else:
                account = Account(
                    primary_smtp_address=settings.primary_smtp_address,
                    config=config,
                    autodiscover=False,
                    access_type=access_type,
                )
    except Exception:
        # exchangelib caches a protocol that failed to start; do not keep that failure.
        _pool.discard(settings)
        raise
    protocol: BaseProtocol = account.protocol
    protocol.TIMEOUT = settings.timeout_seconds
    return account


def forget_connections() -> None:
    """Close every pooled connection (tests, worker shutdown, after a credentials change)."""
    _pool.close_all()
    CachingProtocol.clear_cache()


def endpoint_host(settings: EwsSettings) -> str:
    return urlsplit(settings.service_endpoint).hostname or ""
