from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.meeting_sides import Side, make_side
from tests.sync.workers import Workers, celery_workers


@pytest.fixture(params=["ews", "graph"])
def side(request: pytest.FixtureRequest) -> Side:
    """The server a meeting test runs on: EWS or Microsoft Graph (tests/sync/meeting_sides)."""
    return make_side(request, request.param)


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """A launcher of real Celery worker processes sharing the test database."""
    with celery_workers(tmp_path) as launcher:
        yield launcher
