"""Schemathesis against /api/schema/: no 5xx, and every answer conforms to the schema.

Requests go through Django's WSGI application in-process: no server, no network.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core import signals  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from schemathesis import checks  # noqa: E402

from tests.api.conftest import People  # noqa: E402
from tests.factories import (  # noqa: E402
    make_account,
    make_appointment,
    make_contact,
    make_email,
    make_task,
)


@pytest.fixture
def keep_db_connection() -> Iterator[None]:
    """Keep the test's database connection open across in-process WSGI requests.

    Django's handler closes the connection at the end of each request, which would lose the
    test transaction; Django's own test client disconnects the same two receivers.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# Loaded once at collection through the WSGI application: no network, no server.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
if not os.environ.get("CRMSYNC_SCHEMATHESIS_FULL"):
    # The coverage phase tries every boundary of every parameter: a minute and more. The
    # default run fuzzes a bounded number of examples per operation; set the variable for
    # the whole thing.
    schema.config.phases.update(phases=["examples", "fuzzing"])


@pytest.fixture
def seeded_token(people: People) -> str:
    """Records of every kind owned by the caller, so that some generated ids exist."""
    for _ in range(3):
        make_appointment(people.alice)
        make_task(people.alice)
        make_email(people.alice)
        make_contact(people.alice)
        make_account(people.alice)
    token, _ = Token.objects.get_or_create(user=people.alice)
    return f"Token {token.key}"


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=12,
    database=None,  # no example database written into the work tree
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case: Any, seeded_token: str, keep_db_connection: None) -> None:
    case.call_and_validate(
        headers={"Authorization": seeded_token},
        checks=[
            checks.not_a_server_error,
            checks.response_schema_conformance,
            checks.content_type_conformance,
            checks.response_headers_conformance,
        ],
    )
