"""API token authentication that refuses an address after too many wrong tokens.

DRF authenticates before it throttles, so a request with a wrong token is refused with 401
before any rate limit counts it: without this, a script could try tokens as fast as the
server answers. Wrong tokens are counted per client address (the same address the sign-in
lockout uses) in the cache every web process shares (Redis in production); after
``API_AUTH_FAILURE_LIMIT`` of them within ``API_AUTH_FAILURE_MINUTES``, every token request
from that address is refused with 429 and a ``Retry-After`` until the window has passed,
whether its token is right or not (answering right tokens would leave the guessing open).
Requests signed in by session are not affected.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from crmsync.login_throttle import client_address

log = logging.getLogger(__name__)


def _window_seconds() -> int:
    minutes: int = settings.API_AUTH_FAILURE_MINUTES
    return minutes * 60


class LimitedTokenAuthentication(TokenAuthentication):
    """`TokenAuthentication`, counting wrong tokens per address and refusing a guessing one."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        address = client_address(request) or "unknown"
        key = f"api-token-failures:{address}"
        if (cache.get(key) or 0) >= settings.API_AUTH_FAILURE_LIMIT:
            raise Throttled(
                wait=_window_seconds(),
                detail="Too many wrong API tokens from this address; try again later.",
            )
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            cache.add(key, 0, timeout=_window_seconds())
            try:
                failures = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=_window_seconds())
                failures = 1
            log.warning(
                "Wrong API token from %s (%d within %d minutes)",
                address,
                failures,
                settings.API_AUTH_FAILURE_MINUTES,
            )
            raise
