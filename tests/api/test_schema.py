"""The OpenAPI schema and the offline docs."""

from typing import Any


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


def test_schema_documents_cancelling_a_meeting(client: Any) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    field = schema["components"]["schemas"]["PatchedAppointment"]["properties"]["is_cancelled"]
    assert not field.get("readOnly")
    assert "cancellation" in field["description"]
