"""HTTP for the Graph client: one urllib3 pool manager per worker process.

urllib3 directly, not through `requests` (which runs on it): an idle mailbox's cycle is a
few small requests, and requests' own work on each (preparing it, merging cookies, settings
and hooks, building its response) cost more CPU than urllib3's request itself. What requests
did for us is kept: redirects followed (the token dropped when they lead to another host),
gzip answers decoded, JSON bodies encoded, the query's parameters encoded, one timeout for
connecting and for each read.

Certificates are checked as `tokens.microsoft_tls` checks Entra ID's: nothing taken from the
environment (no proxy, no CA bundle), `CRMSYNC_MICROSOFT_CA_BUNDLE` when set, else certifi's
bundle (requests' default).
"""

from __future__ import annotations

import json as jsonlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import certifi
import urllib3
from django.conf import settings

# As requests: no retry of a failed request, up to 30 redirects.
RETRIES = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=30)
DEFAULT_HEADERS = {"User-Agent": "crmsync", "Accept-Encoding": "gzip, deflate"}
# Connections kept per host: the cycle's thread, the delta download running ahead, and
# room for a few of the process's threads at once.
POOL_SIZE = 10

# Every network failure of a request (refused, DNS, TLS, timeout, dropped, too many
# redirects): the caller maps it to a transient error.
NetworkError = urllib3.exceptions.HTTPError

_lock = threading.Lock()
_managers: dict[str, urllib3.PoolManager] = {}


def _forget() -> None:
    _managers.clear()


os.register_at_fork(after_in_child=_forget)


@dataclass(frozen=True)
class Response:
    """A Graph answer: the status, the headers (case-insensitive) and the decoded body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body's JSON; ValueError when it is not JSON (an empty body included)."""
        return jsonlib.loads(self.content)


def pool_manager() -> urllib3.PoolManager:
    """The process's connections, for the CA bundle configured now."""
    bundle = str(getattr(settings, "CRMSYNC_MICROSOFT_CA_BUNDLE", "") or certifi.where())
    with _lock:
        manager = _managers.get(bundle)
        if manager is None:
            manager = _managers[bundle] = urllib3.PoolManager(
                maxsize=POOL_SIZE, cert_reqs="CERT_REQUIRED", ca_certs=bundle
            )
        return manager


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    json: Any = None,
    data: bytes | None = None,
    timeout: float,
) -> Response:
    """One request; raises `NetworkError` when no answer came."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
    merged = {**DEFAULT_HEADERS, **headers}
    body = data
    if json is not None:
        body = jsonlib.dumps(json, allow_nan=False).encode()
        merged.setdefault("Content-Type", "application/json")
    answer = pool_manager().request(
        method,
        url,
        body=body,
        headers=merged,
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=RETRIES,
    )
    return Response(answer.status, answer.headers, answer.data)
