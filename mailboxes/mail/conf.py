"""Settings of the email engine.

Each is a Django setting when defined (tests override them there), else read from the
environment through `crmsync.env`, so that a bad value fails loudly:

- CRMSYNC_TRACKING_TOKEN_PREFIX (default "CRM:"): what precedes the digits of the tracking
  token added to the subject of CRM email ("Quote for May CRM:0001234").
- CRMSYNC_TRACKING_TOKEN_DIGITS (default 7, 3..12): the least number of digits of a token.
- CRMSYNC_SEND_MAX_ATTEMPTS (default 5): attempts before an outgoing email is "failed".
- CRMSYNC_SEND_RETRY_SECONDS (default 60): first retry delay, doubled at each attempt.
- CRMSYNC_SEND_CLAIM_SECONDS (default 600): after this a "sending" claim is stale and the
  email may be taken over (after checking Sent Items where the server allows it).
- CRMSYNC_SMART_MATCH_DAYS (default 30): how far back smart matching looks.
- CRMSYNC_INCOMING_BATCH (default 200): messages fetched per round trip / per cycle chunk.
- CRMSYNC_INCOMING_MAX_PER_CYCLE (default 5000): messages filed per cycle and mailbox; the
  rest waits for the next cycle (a first sync of a big mailbox spans several claims).
- CRMSYNC_MAX_ATTACHMENT_BYTES: from crmsync.settings.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from crmsync.env import env_int, env_str


def _setting(name: str, read: Any) -> Any:
    if hasattr(settings, name):
        return getattr(settings, name)
    return read()


def tracking_token_prefix() -> str:
    value = str(
        _setting(
            "CRMSYNC_TRACKING_TOKEN_PREFIX",
            lambda: env_str("CRMSYNC_TRACKING_TOKEN_PREFIX", "CRM:"),
        )
    )
    if not value or any(ch.isspace() or ch.isdigit() for ch in value[-1:]):
        raise ImproperlyConfigured(
            f"CRMSYNC_TRACKING_TOKEN_PREFIX={value!r} must be non-empty and not end in a digit "
            "or a space."
        )
    return value


def tracking_token_digits() -> int:
    value = int(
        _setting(
            "CRMSYNC_TRACKING_TOKEN_DIGITS",
            lambda: env_int("CRMSYNC_TRACKING_TOKEN_DIGITS", 7, minimum=3),
        )
    )
    if not 3 <= value <= 12:
        raise ImproperlyConfigured(f"CRMSYNC_TRACKING_TOKEN_DIGITS={value} must be 3 to 12.")
    return value


def send_max_attempts() -> int:
    return int(
        _setting(
            "CRMSYNC_SEND_MAX_ATTEMPTS", lambda: env_int("CRMSYNC_SEND_MAX_ATTEMPTS", 5, minimum=1)
        )
    )


def send_retry_seconds() -> int:
    return int(
        _setting(
            "CRMSYNC_SEND_RETRY_SECONDS",
            lambda: env_int("CRMSYNC_SEND_RETRY_SECONDS", 60, minimum=0),
        )
    )


def send_claim_seconds() -> int:
    return int(
        _setting(
            "CRMSYNC_SEND_CLAIM_SECONDS",
            lambda: env_int("CRMSYNC_SEND_CLAIM_SECONDS", 600, minimum=1),
        )
    )


def smart_match_days() -> int:
    return int(
        _setting(
            "CRMSYNC_SMART_MATCH_DAYS", lambda: env_int("CRMSYNC_SMART_MATCH_DAYS", 30, minimum=0)
        )
    )


def incoming_batch() -> int:
    return int(
        _setting(
            "CRMSYNC_INCOMING_BATCH", lambda: env_int("CRMSYNC_INCOMING_BATCH", 200, minimum=1)
        )
    )


def incoming_max_per_cycle() -> int:
    return int(
        _setting(
            "CRMSYNC_INCOMING_MAX_PER_CYCLE",
            lambda: env_int("CRMSYNC_INCOMING_MAX_PER_CYCLE", 5000, minimum=1),
        )
    )


def max_attachment_bytes() -> int:
    return int(getattr(settings, "CRMSYNC_MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024))
