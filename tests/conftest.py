"""Fixtures shared by every test folder: the EWS emulator, users and logged-in clients."""

from collections.abc import Callable, Iterator

import pytest
from django.test import Client, override_settings

from crmsync.crypto import multi_fernet
from ews_emulator.testing import EmulatorProcess, run_emulator
from mailboxes.connectors.ews import forget_connections
from tests import factories
from users.models import User


@pytest.fixture(scope="session")
def ews(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One EWS emulator process for the session; each test makes its own mailboxes. The
    service account `svc@example.com` may impersonate any of them."""
    db = tmp_path_factory.mktemp("ews") / "ews.sqlite3"
    with run_emulator(db, users=[], impersonator=("svc@example.com", "svc-secret")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the emulator, no pooled EWS connection is left (the next one
    sees credentials changes). The emulator's own tests keep their connections."""
    yield
    if "ews" in request.fixturenames:
        forget_connections()


@pytest.fixture
def superuser(db: None) -> User:
    return factories.make_superuser(username="admin")


@pytest.fixture
def staff_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def non_staff_client(db: None) -> Client:
    client = Client()
    client.force_login(factories.make_user(username="plain", is_staff=False))
    return client


@pytest.fixture
def encryption_keys() -> Iterator[Callable[..., None]]:
    """Sets CRMSYNC_ENCRYPTION_KEYS for the rest of the test; the cached key list follows."""
    overrides: list[override_settings] = []

    def use(*keys: str) -> None:
        override = override_settings(CRMSYNC_ENCRYPTION_KEYS=list(keys))
        override.enable()
        overrides.append(override)
        multi_fernet.cache_clear()

    yield use
    for override in reversed(overrides):
        override.disable()
    multi_fernet.cache_clear()
