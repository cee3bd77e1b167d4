"""Settings come from the environment and refuse bad or unsafe values at start."""

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.foundation.production import PRODUCTION, PROJECT_DIR, process_environment

SETUP = "import django; django.setup()"


def start(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs Python in a fresh process, in the project, with this environment."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=process_environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_development_settings_start(tmp_path: Path) -> None:
    result = start(tmp_path, "-c", SETUP, DEBUG="true")

    assert (result.returncode, result.stderr) == (0, "")


def test_production_settings_start(tmp_path: Path) -> None:
    result = start(tmp_path, "-c", SETUP, **PRODUCTION)

    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("CRMSYNC_CLAIM_SECONDS", "abc"),
        ("CRMSYNC_CLAIM_SECONDS", "5"),
        ("CRMSYNC_MAX_TRANSIENT_FAILURES", "ten"),
        ("SECURE_SSL_REDIRECT", "sometimes"),
        ("CRMSYNC_TRACKING_TOKEN_PREFIX", "CRM1"),
        ("CRMSYNC_TRACKING_TOKEN_DIGITS", "13"),
        ("CRMSYNC_TRACKING_TOKEN_DIGITS", "2"),
        ("CRMSYNC_SEND_MAX_ATTEMPTS", "0"),
        ("CRMSYNC_INCOMING_BATCH", "many"),
        ("CRMSYNC_GRAPH_NOTIFICATION_URL", "crm.example.com/graph/notifications/"),
        ("CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES", "0"),
        ("CRMSYNC_CACHE_URL", "memcached://127.0.0.1:11211"),
        ("API_AUTH_FAILURE_LIMIT", "0"),
    ],
)
def test_bad_value_stops_the_start_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    result = start(tmp_path, "-c", SETUP, **{"DEBUG": "true", name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name}=" in result.stderr
    assert value in result.stderr


CACHE_BACKEND = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.CACHES['default']['BACKEND'])"
)


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "django.core.cache.backends.locmem.LocMemCache"),
        (
            {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/9"},
            "django.core.cache.backends.redis.RedisCache",
        ),
        (
            {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/9", "CRMSYNC_CACHE_URL": "locmem://"},
            "django.core.cache.backends.locmem.LocMemCache",
        ),
    ],
)
def test_rate_limits_are_kept_in_redis_when_the_installation_has_it(
    tmp_path: Path, env: dict[str, str], backend: str
) -> None:
    # API rate limits and wrong-token counts must be shared by all web processes.
    result = start(tmp_path, "-c", CACHE_BACKEND, **PRODUCTION, **env)

    assert (result.returncode, result.stdout.strip()) == (0, backend), result.stderr


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    env = {**PRODUCTION}
    del env["SECRET_KEY"]

    result = start(tmp_path, "-c", SETUP, **env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_without_encryption_keys_refuses_to_start(tmp_path: Path) -> None:
    env = {**PRODUCTION}
    del env["CRMSYNC_ENCRYPTION_KEYS"]

    result = start(tmp_path, "-c", SETUP, **env)

    assert result.returncode != 0
    assert "CRMSYNC_ENCRYPTION_KEYS is required" in result.stderr


def test_production_settings_pass_the_deployment_checks(tmp_path: Path) -> None:
    result = start(
        tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_settings_fail_the_deployment_checks(tmp_path: Path) -> None:
    # The counterpart of the test above: the check does find problems when there are some.
    result = start(
        tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING", DEBUG="true"
    )

    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on in deployment


def test_malformed_encryption_key_stops_the_start(tmp_path: Path) -> None:
    valid = Fernet.generate_key().decode()

    result = start(
        tmp_path, "-c", SETUP, DEBUG="true", CRMSYNC_ENCRYPTION_KEYS=f"{valid},not-a-key"
    )

    assert result.returncode != 0
    assert "CRMSYNC_ENCRYPTION_KEYS: key number 2 is not a valid Fernet key" in result.stderr


def test_manage_py_reports_a_bad_value_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    # when an admin runs a management command with a mistyped variable
    result = start(tmp_path, "manage.py", "check", DEBUG="maybe")

    # then it stops with a one-line message naming the variable
    assert result.returncode == 2
    assert result.stderr.startswith("crmsync: configuration error: Environment variable DEBUG")
    assert "Traceback" not in result.stderr


def test_media_root_inside_static_root_refuses_to_start(tmp_path: Path) -> None:
    # Whitenoise would serve every attachment to anyone.
    result = start(
        tmp_path,
        "-c",
        SETUP,
        DEBUG="true",
        STATIC_ROOT=str(tmp_path / "static"),
        MEDIA_ROOT=str(tmp_path / "static" / "media"),
    )

    assert result.returncode != 0
    assert "MEDIA_ROOT must not be inside STATIC_ROOT" in result.stderr


WEAK_SECRET_KEYS = [
    pytest.param(
        "django-insecure-crmsync-development-only-key-never-use-in-production-0123",
        "is a development key",
        id="the development key",
    ),
    pytest.param(
        "django-insecure-" + "q8Zr5kLw2mNv7xTb4yHc9pJd3sGf6aEu1oWi0" * 2,
        "is a development key",
        id="a startproject key",
    ),
    pytest.param(
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLM",
        "is shorter than 50 characters",
        id="49 characters",
    ),
    pytest.param("abcd" * 20, "has fewer than 5 different characters", id="4 different"),
]


@pytest.mark.parametrize(("key", "problem"), WEAK_SECRET_KEYS)
def test_production_refuses_a_weak_secret_key_in_one_line(
    tmp_path: Path, key: str, problem: str
) -> None:
    # when production starts with a key anyone could know or guess
    result = start(tmp_path, "manage.py", "check", **{**PRODUCTION, "SECRET_KEY": key})

    # then it stops, saying why in one line, without showing the key
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"crmsync: configuration error: Environment variable SECRET_KEY {problem};"
    )
    assert result.stderr.count("\n") == 1
    assert key not in result.stderr


def test_development_accepts_a_short_secret_key(tmp_path: Path) -> None:
    # The counterpart: the rule is for production only.
    result = start(tmp_path, "manage.py", "check", DEBUG="true", SECRET_KEY="short")

    assert result.returncode == 0, result.stderr


def test_a_50_character_key_with_5_different_characters_is_accepted(tmp_path: Path) -> None:
    # The limits themselves are allowed (Django's security.W009 draws them there too).
    key = "abcde" * 10

    result = start(tmp_path, "manage.py", "check", **{**PRODUCTION, "SECRET_KEY": key})

    assert result.returncode == 0, result.stderr


def test_production_refuses_a_plain_http_notification_url(tmp_path: Path) -> None:
    url = "http://crm.example.com/graph/notifications/"

    result = start(
        tmp_path, "manage.py", "check", **{**PRODUCTION, "CRMSYNC_GRAPH_NOTIFICATION_URL": url}
    )

    assert result.returncode == 2
    assert "CRMSYNC_GRAPH_NOTIFICATION_URL must be an https URL" in result.stderr


def test_production_accepts_an_https_notification_url(tmp_path: Path) -> None:
    url = "https://crm.example.com/graph/notifications/"

    result = start(
        tmp_path, "manage.py", "check", **{**PRODUCTION, "CRMSYNC_GRAPH_NOTIFICATION_URL": url}
    )

    assert result.returncode == 0, result.stderr
