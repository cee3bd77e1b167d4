"""Pull and streaming subscriptions."""

from __future__ import annotations

import threading
import time

import pytest
from exchangelib import Account, Message
from exchangelib.errors import (
    ErrorInvalidPushSubscriptionUrl,
    ErrorInvalidSubscription,
    ErrorSubscriptionNotFound,
)
from exchangelib.properties import CreatedEvent, ModifiedEvent, MovedEvent, StatusEvent

from ews_emulator.control import ControlClient


def test_pull_subscription_reports_changes(account: Account, control: ControlClient) -> None:
    sub_id, watermark = account.inbox.subscribe_to_pull()
    created = control.create_item(account.primary_smtp_address, "messages", {"Subject": "ping"})
    control.update_item(created["id"], {"Subject": "pong"})
    notifications = list(account.inbox.get_events(sub_id, watermark))
    events = [e for n in notifications for e in n.events]
    kinds = [type(e) for e in events if not isinstance(e, StatusEvent)]
    assert CreatedEvent in kinds and ModifiedEvent in kinds
    assert {e.item_id.id for e in events if isinstance(e, CreatedEvent)} == {created["id"]}
    last = events[-1].watermark
    again = [e for n in account.inbox.get_events(sub_id, last) for e in n.events]
    assert [type(e) for e in again] == [StatusEvent]
    account.inbox.unsubscribe(sub_id)


def test_pull_subscription_sees_moves(account: Account) -> None:
    message = Message(account=account, folder=account.inbox, subject="move me")
    message.save()
    sub_id, watermark = account.inbox.subscribe_to_pull(event_types=["MovedEvent"])
    message.move(account.trash)
    events = [e for n in account.inbox.get_events(sub_id, watermark) for e in n.events]
    moved = [e for e in events if isinstance(e, MovedEvent)]
    assert [(e.item_id.id, e.old_parent_folder_id.id) for e in moved] == [
        (message.id, account.inbox.id)
    ]


def test_streaming_subscription_delivers_a_control_change(
    account: Account, control: ControlClient
) -> None:
    sub_id = account.calendar.subscribe_to_streaming()
    received: list[object] = []

    def listen() -> None:
        for notification in account.calendar.get_streaming_events(
            sub_id, connection_timeout=1, max_notifications_returned=1
        ):
            received.extend(notification.events)

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.3)
    created = control.create_item(
        account.primary_smtp_address,
        "calendar",
        {"Subject": "streamed", "Start": "2024-02-01T10:00:00Z", "End": "2024-02-01T11:00:00Z"},
    )
    listener.join(timeout=20)
    assert not listener.is_alive()
    created_events = [e for e in received if isinstance(e, CreatedEvent)]
    assert [e.item_id.id for e in created_events] == [created["id"]]
    account.calendar.unsubscribe(sub_id)


def test_push_subscription_lifecycle(account: Account) -> None:
    """A push subscription is created with a watermark; Unsubscribe does not end it (its
    client does, by answering a notification with Unsubscribe)."""
    subscription_id, watermark = account.inbox.subscribe_to_push(
        callback_url="https://127.0.0.1:9/cb"
    )
    assert subscription_id and watermark
    with pytest.raises(ErrorInvalidSubscription):
        account.inbox.unsubscribe(subscription_id)
    with pytest.raises(ErrorInvalidPushSubscriptionUrl):
        account.inbox.subscribe_to_push(callback_url="ftp://127.0.0.1/cb")


def test_streaming_names_invalid_ids_and_sets_affinity(account: Account) -> None:
    with pytest.raises(ErrorInvalidSubscription, match=r"subscription IDs: \['AAA-'\]"):
        list(
            account.inbox.get_streaming_events(
                "AAA-", connection_timeout=1, max_notifications_returned=1
            )
        )
    account.affinity_cookie = None
    with account.inbox.streaming_subscription() as subscription_id:
        assert subscription_id
    assert account.affinity_cookie


def test_push_notifications_reach_the_callback(account: Account) -> None:
    """The emulator POSTs SendNotification to the URL: a StatusEvent first, then the
    events; the client's Unsubscribe answer ends the subscription."""
    import http.server
    import queue

    received: queue.Queue[bytes] = queue.Queue()
    answers = ["OK", "OK", "Unsubscribe"]

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.put(self.rfile.read(int(self.headers["Content-Length"])))
            status = answers.pop(0) if answers else "Unsubscribe"
            body = (
                '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/'
                'envelope/"><s:Body><m:SendNotificationResult xmlns:m="http://schemas.'
                'microsoft.com/exchange/services/2006/messages"><m:SubscriptionStatus>'
                f"{status}</m:SubscriptionStatus></m:SendNotificationResult></s:Body>"
                "</s:Envelope>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    listener = http.server.HTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.server_port}/callback"
        subscription_id, _ = account.inbox.subscribe_to_push(callback_url=url)
        first = received.get(timeout=60)
        assert b"StatusEvent" in first and subscription_id.encode() in first
        Message(account=account, folder=account.inbox, subject="Pushed").save()
        second = received.get(timeout=60)
        assert b"CreatedEvent" in second or b"NewMailEvent" in second
        Message(account=account, folder=account.inbox, subject="Last").save()
        received.get(timeout=60)  # answered Unsubscribe
        deadline = time.monotonic() + 60
        while True:  # a live push subscription refuses Unsubscribe; a gone one is not found
            try:
                account.inbox.unsubscribe(subscription_id)
            except ErrorSubscriptionNotFound:
                break
            except ErrorInvalidSubscription:
                pass
            assert time.monotonic() < deadline, "the subscription outlived Unsubscribe"
            time.sleep(0.2)
    finally:
        listener.shutdown()
