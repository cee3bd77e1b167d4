"""Subscribe (pull and streaming), GetEvents, GetStreamingEvents, Unsubscribe."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator
from typing import Any

from lxml import etree

from ..soap import (
    Element,
    EwsError,
    child,
    children,
    envelope,
    fmt_dt,
    local,
    m,
    new_id,
    response_message,
    sub,
    t,
    text_of,
    utcnow,
)
from .base import Ctx, Streamed, id_elements, operation, resolve_folder, response_root

# A stream sleeps until one of its mailboxes has a new event, and looks at the events table
# at least this often anyway (for events another process wrote, and to notice a stop).
WAKE_SECONDS = 1.0
HEARTBEAT_SECONDS = 30.0
ALL_EVENT_TYPES = (
    "CopiedEvent",
    "CreatedEvent",
    "DeletedEvent",
    "ModifiedEvent",
    "MovedEvent",
    "NewMailEvent",
    "FreeBusyChangedEvent",
)


def watermark(event_id: int) -> str:
    return base64.b64encode(f"wm:{event_id}".encode()).decode()


def parse_watermark(text: str | None) -> int:
    try:
        raw = base64.b64decode((text or "").strip(), validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.") from None
    if not raw.startswith("wm:") or not raw[3:].isdigit():
        raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.")
    return int(raw[3:])


def _event_types(request: Element) -> list[str]:
    found = [e.text or "" for e in children(child(request, "EventTypes"), "EventType")]
    return [f"{name}Event" if not name.endswith("Event") else name for name in found]


@operation("Subscribe")
def subscribe(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("Subscribe")
    request = next((c for c in req if isinstance(c.tag, str)), None)
    try:
        if request is None:
            raise EwsError("ErrorInvalidRequest", "No subscription request")
        kind = {
            "PullSubscriptionRequest": "pull",
            "StreamingSubscriptionRequest": "streaming",
            "PushSubscriptionRequest": "push",
        }.get(local(request.tag))
        if kind is None:
            raise EwsError("ErrorInvalidSubscriptionRequest", "Unknown subscription request.")
        if kind == "push":
            url = text_of(request, "URL") or ""
            if not url.lower().startswith(("http://", "https://")):
                raise EwsError("ErrorInvalidPushSubscriptionUrl", "The URL is not valid.")
            frequency = int(text_of(request, "StatusFrequency") or "30")
            if not 1 <= frequency <= 1440:
                raise EwsError(
                    "ErrorInvalidSubscriptionRequest", "StatusFrequency must be 1 to 1440 minutes."
                )
        all_folders = request.get("SubscribeToAllFolders", "false").lower() == "true"
        folders = [resolve_folder(ctx, f).id for f in id_elements(child(request, "FolderIds"))]
        types = _event_types(request) or list(ALL_EVENT_TYPES)
        start_mark = text_of(request, "Watermark")
        sub_id = new_id(b"\x04")
        with ctx.store.write() as c:
            last = parse_watermark(start_mark) if start_mark else _max_event(c)
            c.execute(
                "INSERT INTO subscriptions(id, mailbox_id, kind, all_folders, folders, "
                "event_types, last_event, created) VALUES(?,?,?,?,?,?,?,?)",
                (
                    sub_id,
                    ctx.target.id,
                    kind,
                    int(all_folders),
                    json.dumps(folders),
                    json.dumps(types),
                    last,
                    fmt_dt(utcnow()),
                ),
            )
        if kind == "push":
            # Where and how often to notify, for the push sender (operations/push.py).
            target = etree.Element("push", url=url, frequency=str(frequency))
            ctx.store.put_setting(ctx.target.id, "push", sub_id, etree.tostring(target))
    except EwsError as e:
        response_message(messages, "Subscribe", e)
        return root
    msg = response_message(messages, "Subscribe")
    sub(msg, m("SubscriptionId"), sub_id)
    if kind in ("pull", "push"):
        sub(msg, m("Watermark"), watermark(last))
    return root


def _max_event(c: Any) -> int:
    row = c.execute("SELECT max(id) FROM events").fetchone()
    return int(row[0] or 0)


def _subscription(ctx: Ctx, sub_id: str) -> dict[str, Any]:
    row = ctx.store.conn.execute(
        "SELECT id, mailbox_id, kind, all_folders, folders, event_types, last_event "
        "FROM subscriptions WHERE id = ?",
        (sub_id,),
    ).fetchone()
    if row is None or not ctx.can_access(row[1]):
        raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
    return {
        "id": row[0],
        "mailbox_id": row[1],
        "kind": row[2],
        "all_folders": bool(row[3]),
        "folders": set(json.loads(row[4])),
        "types": set(json.loads(row[5])),
        "last_event": row[6],
    }


def _events_after(ctx: Ctx, subscription: dict[str, Any], after: int) -> list[tuple[Any, ...]]:
    rows = ctx.store.conn.execute(
        "SELECT id, kind, is_folder, object_id, folder_id, old_object_id, old_folder_id, ts "
        "FROM events WHERE mailbox_id = ? AND id > ? ORDER BY id LIMIT 200",
        (subscription["mailbox_id"], after),
    ).fetchall()
    out = []
    for row in rows:
        folders = {row[4], row[6]} - {None}
        if not subscription["all_folders"] and not folders & subscription["folders"]:
            out.append((row[0], None))
            continue
        kind = row[1]
        if (
            kind == "CreatedEvent" and "NewMailEvent" in subscription["types"]
        ) or kind in subscription["types"]:
            out.append((row[0], row))
        else:
            out.append((row[0], None))
    return out


def _event_element(parent: Element, row: tuple[Any, ...], *, with_watermark: bool) -> None:
    event_id, kind, is_folder, object_id, folder_id, old_object_id, old_folder_id, ts = row
    ev = sub(parent, t(kind))
    if with_watermark:
        sub(ev, t("Watermark"), watermark(event_id))
    sub(ev, t("TimeStamp"), ts)
    if is_folder:
        sub(ev, t("FolderId"), Id=object_id)
    else:
        sub(ev, t("ItemId"), Id=object_id)
    sub(ev, t("ParentFolderId"), Id=folder_id)
    if kind in ("MovedEvent", "CopiedEvent") and old_object_id:
        sub(ev, t("OldFolderId" if is_folder else "OldItemId"), Id=old_object_id)
        sub(ev, t("OldParentFolderId"), Id=old_folder_id or "")


@operation("GetEvents")
def get_events(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("GetEvents")
    try:
        subscription = _subscription(ctx, text_of(req, "SubscriptionId") or "")
        after = parse_watermark(text_of(req, "Watermark"))
    except EwsError as e:
        response_message(messages, "GetEvents", e)
        return root
    events = _events_after(ctx, subscription, after)
    msg = response_message(messages, "GetEvents")
    note = sub(msg, m("Notification"))
    sub(note, t("SubscriptionId"), subscription["id"])
    sub(note, t("PreviousWatermark"), watermark(after))
    sub(note, t("MoreEvents"), "true" if len(events) >= 200 else "false")
    wanted = [row for _, row in events if row is not None]
    last = events[-1][0] if events else after
    for row in wanted:
        _event_element(note, row, with_watermark=True)
    if not wanted:
        status = sub(note, t("StatusEvent"))
        sub(status, t("Watermark"), watermark(last))
    with ctx.store.write() as c:
        c.execute(
            "UPDATE subscriptions SET last_event = ? WHERE id = ?", (last, subscription["id"])
        )
    return root


@operation("Unsubscribe")
def unsubscribe(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("Unsubscribe")
    try:
        subscription = _subscription(ctx, text_of(req, "SubscriptionId") or "")
        if subscription["kind"] == "push":
            # A push subscription ends when its client answers a notification with
            # SubscriptionStatus Unsubscribe; Unsubscribe is for pull and streaming ones.
            raise EwsError("ErrorInvalidSubscription", "The subscription is a push subscription.")
        with ctx.store.write() as c:
            c.execute("DELETE FROM subscriptions WHERE id = ?", (subscription["id"],))
            if not ctx.store.has_subscriptions(c, subscription["mailbox_id"]):
                c.execute("DELETE FROM events WHERE mailbox_id = ?", (subscription["mailbox_id"],))
    except EwsError as e:
        response_message(messages, "Unsubscribe", e)
        return root
    response_message(messages, "Unsubscribe")
    return root


def _streaming_doc(ctx: Ctx, notes: list[tuple[str, list[tuple[Any, ...]]]], status: str) -> bytes:
    root, messages = response_root("GetStreamingEvents")
    msg = response_message(messages, "GetStreamingEvents")
    if notes:
        holder = sub(msg, m("Notifications"))
        for sub_id, rows in notes:
            note = sub(holder, m("Notification"))
            sub(note, t("SubscriptionId"), sub_id)
            for row in rows:
                _event_element(note, row, with_watermark=True)
    sub(msg, m("ConnectionStatus"), status)
    return envelope(root, ctx.version)


@operation("GetStreamingEvents")
def get_streaming_events(ctx: Ctx, req: Element) -> Element | Streamed:
    ids = [e.text or "" for e in children(child(req, "SubscriptionIds"), "SubscriptionId")]
    minutes = int(text_of(req, "ConnectionTimeout", "1") or 1)
    subscriptions, failed = [], []
    for sub_id in ids:
        try:
            found = _subscription(ctx, sub_id)
        except EwsError:
            failed.append(sub_id)
            continue
        if found["kind"] != "streaming":
            failed.append(sub_id)
        else:
            subscriptions.append(found)
    if failed or not subscriptions:
        # The ids that cannot be streamed are named in ErrorSubscriptionIds.
        root, messages = response_root("GetStreamingEvents")
        error = EwsError("ErrorInvalidSubscription", "Subscription is invalid.")
        msg = response_message(messages, "GetStreamingEvents", error)
        holder = sub(msg, m("ErrorSubscriptionIds"))
        for sub_id in failed:
            sub(holder, m("SubscriptionId"), sub_id)
        return root
    return Streamed(_stream(ctx, subscriptions, minutes * 60.0))


def _stream(ctx: Ctx, subscriptions: list[dict[str, Any]], seconds: float) -> Iterator[bytes]:
    deadline = time.monotonic() + seconds
    last_beat = time.monotonic()
    positions = {s["id"]: s["last_event"] for s in subscriptions}
    mailboxes = sorted({s["mailbox_id"] for s in subscriptions})
    yield _streaming_doc(ctx, [], "OK")
    while time.monotonic() < deadline and not ctx.stopping.is_set():
        seen = ctx.store.event_marks(mailboxes)
        notes = []
        for s in subscriptions:
            events = _events_after(ctx, s, positions[s["id"]])
            if events:
                positions[s["id"]] = events[-1][0]
                rows = [row for _, row in events if row is not None]
                if rows:
                    notes.append((s["id"], rows))
        if notes:
            last_beat = time.monotonic()
            yield _streaming_doc(ctx, notes, "OK")
        elif time.monotonic() - last_beat > HEARTBEAT_SECONDS:
            last_beat = time.monotonic()
            yield _streaming_doc(ctx, [], "OK")
        remaining = min(deadline - time.monotonic(), WAKE_SECONDS)
        if remaining > 0:
            ctx.store.wait_for_events(mailboxes, seen, remaining)
    yield _streaming_doc(ctx, [], "Closed")
