"""The environment of a production process (DEBUG off, every required value set), for tests
that start one: settings checks, the static files build, gunicorn."""

import os
from pathlib import Path

from cryptography.fernet import Fernet

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Variables of the test run itself that would decide the outcome of a start.
CLEARED = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CRMSYNC_ENCRYPTION_KEYS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CRMSYNC_CACHE_URL",
    "CRMSYNC_CLAIM_SECONDS",
    "STATIC_ROOT",
    # set by the browser tests' session fixture; a real deployment never has it
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p" + Fernet.generate_key().decode() + "-production-secret-key-xyz",
    "ALLOWED_HOSTS": "crm.example.com",
    "CRMSYNC_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}


def process_environment(data_dir: Path, **env: str) -> dict[str, str]:
    """This process's environment less the test run's settings, with a private data
    directory and the given variables."""
    environment = {k: v for k, v in os.environ.items() if k not in CLEARED}
    environment.update(
        DJANGO_SETTINGS_MODULE="crmsync.settings", CRMSYNC_DATA_DIR=str(data_dir), **env
    )
    return environment
