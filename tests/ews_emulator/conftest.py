"""One emulator process per test session; each test gets mailboxes of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    Account,
    Configuration,
    Credentials,
    FailFast,
    Version,
)
from exchangelib.version import EXCHANGE_2016

from ews_emulator.control import ControlClient
from ews_emulator.testing import EmulatorProcess

IMPERSONATOR = ("svc@example.com", "svc-secret")
PASSWORD = "secret"


def make_account(
    ews_url: str,
    email: str,
    *,
    login: str | None = None,
    password: str = PASSWORD,
    access_type: str = DELEGATE,
) -> Account:
    config = Configuration(
        service_endpoint=ews_url,
        credentials=Credentials(login or email, password),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
        retry_policy=FailFast(),
    )
    return Account(email, config=config, autodiscover=False, access_type=access_type)


@pytest.fixture(scope="session")
def emulator(ews: EmulatorProcess) -> EmulatorProcess:
    """The session's one emulator (`tests/conftest.py`; its service account is IMPERSONATOR),
    with alice's mailbox."""
    ews.control.create_mailbox("alice@example.com", PASSWORD)
    return ews


@pytest.fixture
def control(emulator: EmulatorProcess) -> ControlClient:
    return emulator.control


@pytest.fixture
def new_mailbox(control: ControlClient) -> Callable[[], str]:
    """Create a fresh mailbox (password PASSWORD) and return its address."""

    def create() -> str:
        email = f"u{uuid.uuid4().hex[:10]}@example.com"
        control.create_mailbox(email, PASSWORD)
        return email

    return create


@pytest.fixture
def account(emulator: EmulatorProcess, new_mailbox: Callable[[], str]) -> Account:
    return make_account(emulator.ews_url, new_mailbox())


@pytest.fixture
def account_factory(
    emulator: EmulatorProcess, new_mailbox: Callable[[], str]
) -> Callable[..., Account]:
    def create(email: str | None = None, **kwargs: object) -> Account:
        return make_account(emulator.ews_url, email or new_mailbox(), **kwargs)  # type: ignore[arg-type]

    return create


@pytest.fixture
def impersonating(emulator: EmulatorProcess) -> Callable[[str], Account]:
    def create(email: str) -> Account:
        return make_account(
            emulator.ews_url,
            email,
            login=IMPERSONATOR[0],
            password=IMPERSONATOR[1],
            access_type=IMPERSONATION,
        )

    return create


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ews.db"
