"""The OpenAPI schema, the offline docs, and a Schemathesis run against the schema."""

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis import checks

from tests.api.conftest import People
from tests.api.factories import make_account, make_appointment, make_contact, make_email, make_task


def test_schema_is_openapi_3_and_lists_every_endpoint(client: Any) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for name in ("emails", "appointments", "tasks", "contacts", "accounts"):
        assert f"/api/v1/{name}/" in paths
        assert f"/api/v1/{name}/{{id}}/" in paths
    patch = schema["paths"]["/api/v1/tasks/{id}/"]["patch"]
    assert "If-Match" in {p["name"] for p in patch["parameters"]}
    assert "412" in patch["responses"]


def test_schema_names_no_credential_field(client: Any) -> None:
    body = client.get("/api/schema/").content

    assert b"password" not in body.lower()


def test_docs_are_served_locally_without_a_cdn(client: Any) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html


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
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, seeded_token: str, keep_db_connection: None
) -> None:
    case.call_and_validate(
        headers={"Authorization": seeded_token},
        checks=[
            checks.not_a_server_error,
            checks.response_schema_conformance,
            checks.content_type_conformance,
            checks.response_headers_conformance,
        ],
    )
