"""The push notification sender: POSTs SendNotification to each push subscription's URL.

As "Push notifications" describes it: the server sends the subscription's events (or a
StatusEvent every StatusFrequency minutes when there are none) to the client's URL; the
client answers SendNotificationResult with SubscriptionStatus OK (go on) or Unsubscribe
(the subscription ends). A client that does not answer is retried as "StatusFrequency"
describes: 30 s after the first failure, then at double that time (60 s, 120 s, ...) after
it, while that time does not exceed StatusFrequency; then the subscription expires. One
sender thread runs per emulator process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ..soap import DEFAULT_VERSION, M_NS, envelope, m, parse_xml, sub, t
from ..store import Store
from .notify import _event_element, _events_after, watermark

log = logging.getLogger("ews_emulator.push")
POLL_SECONDS = 0.5
# "In EWS, the default retry interval is 30 seconds and subsequent retries are always
# double the time of the last retry interval" ("StatusFrequency").
FIRST_RETRY_SECONDS = 30.0
TIMEOUT_SECONDS = 10.0


@dataclass
class _Target:
    url: str
    frequency: float  # seconds
    last_sent: float = 0.0
    retry_at: float = 0.0
    delay: float = 0.0  # of the next retry, counted from the first failure
    failed_at: float = 0.0


class _StoreCtx:
    """What `_events_after` reads of a request context: the store."""

    def __init__(self, store: Store) -> None:
        self.store = store


def _notification(sub_id: str, after: int, rows: list[Any], last: int, more: bool) -> bytes:
    root = etree.Element(m("SendNotification"))
    messages = sub(root, m("ResponseMessages"))
    msg = sub(messages, m("SendNotificationResponseMessage"), ResponseClass="Success")
    sub(msg, m("ResponseCode"), "NoError")
    note = sub(msg, m("Notification"))
    sub(note, t("SubscriptionId"), sub_id)
    sub(note, t("PreviousWatermark"), watermark(after))
    sub(note, t("MoreEvents"), "true" if more else "false")
    for row in rows:
        _event_element(note, row, with_watermark=True)
    if not rows:
        status = sub(note, t("StatusEvent"))
        sub(status, t("Watermark"), watermark(last))
    return envelope(root, DEFAULT_VERSION)


def _post(url: str, body: bytes) -> str | None:
    """The SubscriptionStatus the client answered, or None when it did not answer."""
    # Subscribe accepts only http(s) URLs, so no other scheme reaches here.
    request = urllib.request.Request(  # noqa: S310
        url, data=body, method="POST", headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            answer = response.read()
    except (urllib.error.URLError, OSError, ValueError):
        return None
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        status = parse_xml(answer, parser).find(f".//{{{M_NS}}}SubscriptionStatus")
    except etree.XMLSyntaxError:
        return None
    return (status.text or "").strip() if status is not None else None


class PushSender(threading.Thread):
    def __init__(self, store: Store, stopping: threading.Event) -> None:
        super().__init__(name="ews-push-sender", daemon=True)
        self.store = store
        self.stopping = stopping
        self.targets: dict[str, _Target] = {}

    def run(self) -> None:
        while not self.stopping.wait(POLL_SECONDS):
            try:
                self.cycle(time.monotonic())
            except Exception:  # one bad cycle must not end the sender
                log.exception("push sender cycle failed")

    def cycle(self, now: float) -> None:
        rows = self.store.conn.execute(
            "SELECT id, mailbox_id, all_folders, folders, event_types, last_event "
            "FROM subscriptions WHERE kind = 'push'"
        ).fetchall()
        live = {r[0] for r in rows}
        for gone in set(self.targets) - live:
            del self.targets[gone]
        for sub_id, mailbox_id, all_folders, folders, types, last_event in rows:
            target = self.targets.get(sub_id) or self._load_target(sub_id, mailbox_id, now)
            if target is None or now < target.retry_at:
                continue
            subscription = {
                "mailbox_id": mailbox_id,
                "all_folders": bool(all_folders),
                "folders": set(json.loads(folders)),
                "types": set(json.loads(types)),
            }
            events = _events_after(_StoreCtx(self.store), subscription, last_event)  # type: ignore[arg-type]
            wanted = [row for _, row in events if row is not None]
            if not wanted and now - target.last_sent < target.frequency:
                continue
            last = events[-1][0] if events else last_event
            body = _notification(sub_id, last_event, wanted, last, len(events) >= 200)
            status = _post(target.url, body)
            if status is None:
                if not target.delay:
                    target.failed_at = now
                target.delay = target.delay * 2 if target.delay else FIRST_RETRY_SECONDS
                if target.delay > target.frequency:
                    self._end_subscription(sub_id, mailbox_id)  # expired: the client never answered
                    continue
                target.retry_at = target.failed_at + target.delay
                continue
            target.delay, target.retry_at, target.last_sent = 0.0, 0.0, now
            if status == "Unsubscribe":
                self._end_subscription(sub_id, mailbox_id)
                continue
            with self.store.write() as c:
                c.execute("UPDATE subscriptions SET last_event = ? WHERE id = ?", (last, sub_id))

    def _load_target(self, sub_id: str, mailbox_id: int, now: float) -> _Target | None:
        stored = self.store.setting(mailbox_id, "push", sub_id)
        if stored is None:
            return None
        spec = parse_xml(stored)
        target = _Target(spec.get("url", ""), float(spec.get("frequency", "30")) * 60)
        # The first notification (a StatusEvent) goes out at once, like Exchange's.
        target.last_sent = now - target.frequency
        self.targets[sub_id] = target
        return target

    def _end_subscription(self, sub_id: str, mailbox_id: int) -> None:
        self.targets.pop(sub_id, None)
        with self.store.write() as c:
            c.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,))
        self.store.delete_setting(mailbox_id, "push", sub_id)


def start_push_sender(store: Store, stopping: threading.Event) -> PushSender:
    sender = PushSender(store, stopping)
    sender.start()
    return sender
