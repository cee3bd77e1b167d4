from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.workers import Workers, celery_workers


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """A launcher of real Celery worker processes sharing the test database."""
    with celery_workers(tmp_path) as launcher:
        yield launcher
