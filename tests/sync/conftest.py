from collections.abc import Iterator
from pathlib import Path

import pytest

from ews_emulator.testing import EmulatorProcess, run_emulator
from mailboxes.connectors.ews import forget_connections
from tests.sync.workers import Workers, celery_workers


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """A launcher of real Celery worker processes sharing the test database."""
    with celery_workers(tmp_path) as launcher:
        yield launcher


@pytest.fixture(autouse=True)
def _fresh_connections() -> Iterator[None]:
    yield
    forget_connections()


@pytest.fixture(scope="session")
def ews(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One EWS emulator process for the session; each test makes its own mailboxes."""
    db = tmp_path_factory.mktemp("ews") / "ews.sqlite3"
    with run_emulator(db, users=[], impersonator=("svc@example.com", "svc-secret")) as emulator:
        yield emulator
