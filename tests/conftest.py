"""Fixtures shared by every test folder: the EWS emulator, users and logged-in clients."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from crmsync.celery import app as celery_app
from crmsync.crypto import multi_fernet
from ews_emulator.testing import EmulatorProcess, run_emulator
from mailboxes.connectors.ews import forget_connections
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.graph_support import GraphTenant, graph_profile_fields, start_graph_tenant
from users.models import User


@pytest.fixture(scope="session")
def ews(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One EWS emulator process for the session; each test makes its own mailboxes. The
    service account `svc@example.com` may impersonate any of them."""
    db = tmp_path_factory.mktemp("ews") / "ews.sqlite3"
    with run_emulator(db, users=[], impersonator=("svc@example.com", "svc-secret")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2 makes each user with a password cost a fifth of a second; no test is about
    the hashing itself."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the emulator, no pooled EWS connection is left (the next one
    sees credentials changes). The emulator's own tests keep their connections."""
    yield
    if "ews" in request.fixturenames and "emulator" not in request.fixturenames:
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


@pytest.fixture(scope="session")
def graph_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphTenant]:
    """One emulator serving Entra ID and Graph over TLS for the session (tests/graph_support)."""
    with start_graph_tenant(tmp_path_factory.mktemp("m365")) as tenant:
        yield tenant


class M365:
    """Graph profiles and mailboxes of the product on the session's tenant."""

    def __init__(self, tenant: GraphTenant) -> None:
        self.tenant = tenant

    def profile(self, **fields: Any) -> EmailServerProfile:
        return factories.make_profile(**graph_profile_fields(self.tenant, **fields))

    def mailbox(
        self, profile: EmailServerProfile | None = None, email: str | None = None, **fields: Any
    ) -> Mailbox:
        """An approved mailbox on a new address of the emulator (or `email`)."""
        fields.setdefault("approval_status", Mailbox.ApprovalStatus.APPROVED)
        return factories.make_mailbox(
            profile=profile or self.profile(),
            email_address=email or self.tenant.new_mailbox_address(),
            **fields,
        )


@pytest.fixture
def m365(graph_tenant: GraphTenant, settings: Any, db: None) -> M365:
    """Trusts the emulator's certificate for Entra ID and Graph; makes profiles, mailboxes."""
    settings.CRMSYNC_MICROSOFT_CA_BUNDLE = graph_tenant.ca_file
    return M365(graph_tenant)


@pytest.fixture
def on_workers(django_capture_on_commit_callbacks: Any) -> Iterator[Callable[..., Any]]:
    """Runs a request with Celery eager: the tasks it enqueues run before it returns.

    Callbacks the request registers with `on_commit` (tasks enqueued after the commit) run
    too, as they would outside the test's transaction.
    """
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True

    def run(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    try:
        yield run
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved
