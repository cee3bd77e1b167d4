"""Typed readers for environment variables that fail loudly on bad values.

Settings read the environment only through these helpers, so that a typo in a deployment
stops the process at start with a message naming the variable, instead of running with a
silently wrong value.
"""

import os
from urllib.parse import urlsplit

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str | None = None) -> str:
    value = _raw(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"Environment variable {name} is required but not set.")
        return default
    return value


def env_bool(name: str, *, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"Environment variable {name}={value!r} is not a boolean; use one of "
        f"{sorted(_TRUE | (_FALSE - {''}))}."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"Environment variable {name}={value!r} is not an integer."
        ) from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"Environment variable {name}={number} is below {minimum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


def require_production_secret_key(value: str, *, development_key: str) -> None:
    """Refuses a SECRET_KEY unfit for production, saying why without showing the key.

    Django's deployment check only warns (security.W009) about the keys refused here; a short,
    repetitive or published key lets anyone who knows or guesses it forge sessions.
    """
    if value == development_key or value.startswith(SECRET_KEY_INSECURE_PREFIX):
        problem = "is a development key"
    elif len(value) < SECRET_KEY_MIN_LENGTH:
        problem = f"is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    elif len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        problem = f"has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} different characters"
    else:
        return
    raise ImproperlyConfigured(
        f"Environment variable SECRET_KEY {problem}; with DEBUG off it must be a long random "
        "secret, e.g. the output of: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )


def check_notification_url(name: str, value: str, *, debug: bool) -> None:
    """A public URL a mail service posts to: absolute, and https unless DEBUG (Graph itself
    refuses a plain http notification URL; the emulator of the tests and the demo does not)."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ImproperlyConfigured(
            f"Environment variable {name}={value!r} is not an absolute http(s) URL."
        )
    if parts.scheme != "https" and not debug:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be an https URL when DEBUG is off; Microsoft "
            "Graph delivers notifications over https only."
        )
    if parts.username or parts.password or parts.fragment:
        raise ImproperlyConfigured(
            f"Environment variable {name} must not hold a user name, password or #fragment."
        )
