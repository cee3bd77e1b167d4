"""The API's Swagger UI works with nothing fetched from outside 127.0.0.1."""

from typing import Any
from urllib.parse import urlparse

import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_from_local_files(page: Any, live_server: Any) -> None:
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("text=/api/v1/appointments/")
    screenshot(page, "08-api-docs")

    assert "crmsync API" in page.inner_text("body")
    assert hosts <= {"localhost", "127.0.0.1"}
