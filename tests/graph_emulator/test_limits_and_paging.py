"""Graph's limits and large items as Graph has them: `$expand` refused on the deltas that
refuse it, at most 4 MB in one request, messages above the 10 MB text node lxml allows by
default, and listings paged through to the end."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

import pytest
import requests

from .conftest import Tenant
from .test_mail import error_of, ok, url

pytestmark = pytest.mark.e2e


def test_expand_on_the_tasks_and_event_deltas_is_refused(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    lists = ok(graph.get(url(tenant, email, "todo/lists")))["value"]
    default = next(item for item in lists if item["wellknownListName"] == "defaultList")
    prop = "String {00020329-0000-0000-c000-000000000046} Name X"
    expand = f"singleValueExtendedProperties($filter=id eq '{prop}')"
    tasks = graph.get(
        url(tenant, email, f"todo/lists/{default['id']}/tasks/delta"), params={"$expand": expand}
    )
    events = graph.get(
        url(tenant, email, "calendarView/delta"),
        params={
            "startDateTime": "2026-01-01T00:00:00Z",
            "endDateTime": "2026-02-01T00:00:00Z",
            "$expand": expand,
        },
    )

    assert error_of(tasks) == (400, "BadRequest")
    assert error_of(events) == (400, "BadRequest")
    assert ok(graph.get(url(tenant, email, f"todo/lists/{default['id']}/tasks/delta")))


def test_a_request_above_4_mb_is_refused(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    big: dict[str, Any] = {
        "subject": "big",
        "body": {"contentType": "text", "content": "x" * (4 * 1024 * 1024)},
    }

    answer = graph.post(url(tenant, email, "messages"), json=big)

    assert error_of(answer) == (413, "ErrorRequestEntityTooLarge")
    assert ok(graph.get(url(tenant, email, "mailFolders/drafts/messages")))["value"] == []


def test_a_message_of_8_mb_is_served(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    payload = base64.encodebytes(os.urandom(6 * 1024 * 1024)).decode()  # 8 MB of base64
    mime = (
        "From: a@example.org\r\nTo: b@example.com\r\nSubject: large\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
        "\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="big.bin"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{payload}--b--\r\n"
    )
    tenant.control.deliver(email, mime)

    [message] = ok(graph.get(url(tenant, email, "mailFolders/inbox/messages")))["value"]
    got = ok(graph.get(url(tenant, email, f"messages/{message['id']}")))
    raw = graph.get(url(tenant, email, f"messages/{message['id']}/$value"))
    changes = ok(graph.get(url(tenant, email, "mailFolders/inbox/messages/delta")))["value"]

    assert got["subject"] == "large" and got["hasAttachments"] is True
    assert raw.status_code == 200 and len(raw.content) > 8 * 1024 * 1024
    assert [c["id"] for c in changes] == [message["id"]]


def test_a_listing_pages_to_its_end_in_order(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    tenant.control.seed(email, "messages", 45)
    link: str | None = url(tenant, email, "mailFolders/inbox/messages?$top=10&$select=subject")
    seen: list[str] = []
    while link:
        page = ok(graph.get(link))
        seen += [m["subject"] for m in page["value"]]
        link = page.get("@odata.nextLink")

    assert len(seen) == len(set(seen)) == 45
