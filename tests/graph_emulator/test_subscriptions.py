"""Graph change notifications: validation handshake, notifications with clientState,
renewal, deletion, maximum lifetimes, lifecycle notifications, a dropped notification."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from .conftest import Tenant
from .test_mail import error_of, ok

pytestmark = pytest.mark.e2e


class Subscriber(ThreadingHTTPServer):
    """A webhook receiver on loopback: answers validation, records what it is sent."""

    daemon_threads = True

    def __init__(self, answer_validation: bool = True) -> None:
        self.answer_validation = answer_validation
        self.notifications: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []
        self.validations = 0
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify"

    @property
    def lifecycle_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/lifecycle"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.notifications) < count:
            time.sleep(0.05)
        return self.notifications


class Handler(BaseHTTPRequestHandler):
    server: Subscriber

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("validationToken")
        if token:
            self.server.validations += 1
            answer = token[0].encode() if self.server.answer_validation else b"nope"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        target = (
            self.server.lifecycle
            if self.path.startswith("/lifecycle")
            else self.server.notifications
        )
        target.extend(json.loads(body)["value"])
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    server = Subscriber()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def in_minutes(minutes: int) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def subscribe(
    tenant: Tenant, graph: requests.Session, resource: str, subscriber: Subscriber, **extra: Any
) -> requests.Response:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": subscriber.url,
        "lifecycleNotificationUrl": subscriber.lifecycle_url,
        "resource": resource,
        "expirationDateTime": in_minutes(60),
        "clientState": "secret-state",
    } | extra
    return graph.post(f"{tenant.graph}/subscriptions", json=body)


def test_notifications_for_inbox_changes(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str], subscriber: Subscriber
) -> None:
    email = new_mailbox()
    sub = ok(
        subscribe(tenant, graph, f"users/{email}/mailFolders('Inbox')/messages", subscriber), 201
    )
    assert subscriber.validations == 2  # the notification and the lifecycle URL
    assert sub["clientState"] == "secret-state"
    [item_id] = tenant.control.seed(email, "messages", 1)
    [created] = subscriber.wait_for(1)
    assert created["changeType"] == "created"
    assert created["clientState"] == "secret-state"
    assert created["subscriptionId"] == sub["id"]
    assert created["resourceData"]["id"] == item_id.replace("/", "-").replace("+", "_")
    tenant.control.update_item(item_id, {"IsRead": True})
    subscriber.wait_for(2)  # changes between two polls of the emulator coalesce
    tenant.control.delete_item(item_id, mode="hard")
    changes = [n["changeType"] for n in subscriber.wait_for(3)]
    assert changes == ["created", "updated", "deleted"]
    renewed = ok(
        graph.patch(
            f"{tenant.graph}/subscriptions/{sub['id']}",
            json={"expirationDateTime": in_minutes(120)},
        )
    )
    assert renewed["expirationDateTime"] > sub["expirationDateTime"]
    ok(graph.delete(f"{tenant.graph}/subscriptions/{sub['id']}"), 204)
    tenant.control.seed(email, "messages", 1)
    time.sleep(0.6)
    assert len(subscriber.notifications) == 3  # nothing after the deletion
    assert error_of(graph.get(f"{tenant.graph}/subscriptions/{sub['id']}")) == (
        404,
        "ResourceNotFound",
    )


def test_validation_lifetime_and_lifecycle(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str], subscriber: Subscriber
) -> None:
    email = new_mailbox()
    too_long = subscribe(
        tenant, graph, f"users/{email}/events", subscriber, expirationDateTime=in_minutes(10081)
    )
    assert error_of(too_long) == (400, "ExtensionError")
    assert "10080 minutes" in too_long.json()["error"]["message"]
    tasks_too_long = subscribe(
        tenant,
        graph,
        f"users/{email}/todo/lists/tasks/tasks",
        subscriber,
        expirationDateTime=in_minutes(4231),
    )
    assert error_of(tasks_too_long) == (400, "ExtensionError")
    silent = Subscriber(answer_validation=False)
    threading.Thread(target=silent.serve_forever, daemon=True).start()
    try:
        refused = subscribe(tenant, graph, f"users/{email}/contacts", silent)
        assert error_of(refused) == (400, "ValidationError")
    finally:
        silent.shutdown()
        silent.server_close()
    sub = ok(subscribe(tenant, graph, f"users/{email}/contacts", subscriber), 201)
    tenant.control.inject_graph_fault("graph_drop_notification", mailbox=email)
    tenant.control.seed(email, "contacts", 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not subscriber.lifecycle:
        time.sleep(0.05)
    assert [e["lifecycleEvent"] for e in subscriber.lifecycle] == ["missed"]
    assert subscriber.notifications == []
    tenant.control.seed(email, "contacts", 1)
    assert [n["changeType"] for n in subscriber.wait_for(1)] == ["created"]
    assert tenant.control.send_lifecycle(sub["id"], "reauthorizationRequired")
    assert tenant.control.send_lifecycle(sub["id"], "subscriptionRemoved")
    assert [e["lifecycleEvent"] for e in subscriber.lifecycle] == [
        "missed",
        "reauthorizationRequired",
        "subscriptionRemoved",
    ]
    assert error_of(graph.get(f"{tenant.graph}/subscriptions/{sub['id']}")) == (
        404,
        "ResourceNotFound",
    )
