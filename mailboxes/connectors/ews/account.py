"""EWS settings → a configured exchangelib Account, with connections pooled per profile.

The settings come from `mailboxes.connectors.settings`, which reads the profile and mailbox.
exchangelib keeps one `Protocol` (an HTTP session pool) per service endpoint and credentials;
we keep one `Configuration` per profile and credentials on top of it, so every mailbox of a
profile that syncs through a service account shares one connection pool in a worker process,
and per-mailbox credentials get a small LRU of pools.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.protocol import BaseProtocol, CachingProtocol, Protocol
from exchangelib.version import EXCHANGE_2010_SP2, EXCHANGE_2013, EXCHANGE_2016, EXCHANGE_2019

from mailboxes.connectors.ews.concurrency import MailboxProtocol, forget_limits
from mailboxes.connectors.ews.errors import FailFastWithHints, exchange_errors
from mailboxes.connectors.ews.oauth import AppTokenCredentials, OAuthFailFast, microsoft_protocol
from mailboxes.connectors.settings import EwsSettings, ews_settings

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
                credentials=_credentials(settings),
                auth_type=OAUTH2
                if settings.oauth
                else _AUTH_TYPES.get(settings.authentication_protocol),
                version=Version(build=_VERSIONS.get(settings.version, EXCHANGE_2016)),
                # Never sleep in a worker: a busy server postpones the mailbox instead.
                retry_policy=OAuthFailFast(settings.oauth)
                if settings.oauth is not None
                else FailFastWithHints(),
                max_connections=settings.max_connections,
            )
            if settings.oauth is not None and config.service_endpoint:
                microsoft_protocol(config)
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


def _credentials(settings: EwsSettings) -> Credentials | AppTokenCredentials:
    if settings.oauth is not None:
        return AppTokenCredentials(settings.oauth, settings.oauth_scope, settings.timeout_seconds)
    return Credentials(settings.username, settings.password)


def account_for(mailbox: Mailbox, profile: EmailServerProfile | None = None) -> Account:
    """A ready exchangelib Account for `mailbox`, sharing its profile's connection pool.

    Raises `PermanentSyncError` for settings that cannot work (no credentials, OAuth) and
    translates exchangelib failures at connection time (autodiscover, auth detection).
    Creating the account makes no request when autodiscover is off and the version is set.
    """
    return account_from_settings(ews_settings(mailbox, profile))


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
    # The mailbox's requests, one at a time once the server refuses them for concurrency.
    account.protocol = MailboxProtocol(
        protocol, (settings.pool_key, settings.primary_smtp_address.lower())
    )
    return account


def forget_connections() -> None:
    """Close every pooled connection (tests, worker shutdown, after a credentials change)."""
    _pool.close_all()
    CachingProtocol.clear_cache()
    forget_limits()


def endpoint_host(settings: EwsSettings) -> str:
    return urlsplit(settings.service_endpoint).hostname or ""
