"""Graph change notifications: subscriptions, the validation handshake, notifications and
lifecycle notifications (https://learn.microsoft.com/graph/api/resources/subscription,
.../change-notifications-delivery-webhooks, .../change-notifications-lifecycle-events).

Subscriptions live in the memory of the emulator process that accepted them; a thread of
that process polls the store's change sequence of the watched folders and POSTs
notifications to the subscriber.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..store import Folder
from . import ids, throttle
from .api import Request, Response, find_user, user_object_id
from .errors import GraphError, bad_request, policy_denied

log = logging.getLogger("ews_emulator.graph")
# (resource pattern, role, maximum lifetime in minutes, Graph type of the resource data)
RESOURCES = (
    (re.compile(r"^users/([^/]+)/messages$", re.I), "Mail.ReadWrite", 10080, "Message", None),
    (
        re.compile(r"^users/([^/]+)/mailFolders(?:\('([^']+)'\)|/([^/]+))/messages$", re.I),
        "Mail.ReadWrite",
        10080,
        "Message",
        "mail",
    ),
    (
        re.compile(r"^users/([^/]+)/events$", re.I),
        "Calendars.ReadWrite",
        10080,
        "Event",
        "calendar",
    ),
    (
        re.compile(r"^users/([^/]+)/contacts$", re.I),
        "Contacts.ReadWrite",
        10080,
        "Contact",
        "contacts",
    ),
    (
        re.compile(r"^users/([^/]+)/todo/lists/([^/]+)/tasks$", re.I),
        "Tasks.ReadWrite",
        4230,
        "TodoTask",
        "tasks",
    ),
)
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
POLL_SECONDS = 0.2
VALIDATION_TIMEOUT = 10.0


@dataclass
class Subscription:
    id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: dt.datetime
    application_id: str
    mailbox_id: int
    user_id: str
    kind: str
    max_minutes: int
    folders: dict[str, int] = field(default_factory=dict)  # folder id -> last sequence seen
    delivered: int = 0
    dropped: int = 0
    reauthorized: int = 0  # POST /subscriptions/{id}/reauthorize answered

    def json(self) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.subscription",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": _fmt(self.expiration),
            "creatorId": self.application_id,
            "latestSupportedTlsVersion": "v1_2",
            "includeResourceData": False,
            "notificationUrlAppId": None,
        }


def _fmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(value: Any) -> dt.datetime:
    try:
        # Graph writes 7 fractional digits; Python 3.11 reads at most 6
        text = re.sub(r"(\.\d{6})\d+", r"\1", str(value)).replace("Z", "+00:00")
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(
            f"'{value}' is not a valid expirationDateTime.", "InvalidRequest"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Registry:
    """The subscriptions of this process and the thread that delivers their notifications."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.items: dict[str, Subscription] = {}
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="graph-notify", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        stopping = self.server.stopping
        while not stopping.wait(POLL_SECONDS):
            with self.lock:
                subs = list(self.items.values())
            for sub in subs:
                try:
                    self.poll(sub)
                except Exception:
                    log.exception("notifications of subscription %s failed", sub.id)

    def poll(self, sub: Subscription) -> None:
        store = self.server.store
        now = dt.datetime.now(dt.UTC)
        if sub.expiration <= now:
            with self.lock:
                self.items.pop(sub.id, None)
            return
        value = []
        for folder_id, after in list(sub.folders.items()):
            rows = store.sync_rows(folder_id, after, 200)
            for seq, kind, item_id, row in rows:
                sub.folders[folder_id] = max(sub.folders[folder_id], seq)
                if kind == "gone":
                    change = "deleted"
                elif row is not None and row.entered_seq > after:
                    change = "created"
                else:
                    change = "updated"
                if change not in sub.change_types:
                    continue
                graph_id = ids.rest_id(item_id)
                path = f"Users/{sub.user_id}/{sub.kind}s/{graph_id}"
                data: dict[str, Any] = {
                    "@odata.type": f"#Microsoft.Graph.{sub.kind}",
                    "@odata.id": path,
                    "id": graph_id,
                }
                if row is not None:
                    data["@odata.etag"] = f'W/"{row.change_key}"'
                value.append(
                    {
                        "subscriptionId": sub.id,
                        "subscriptionExpirationDateTime": _fmt(sub.expiration),
                        "changeType": change,
                        "resource": path,
                        "resourceData": data,
                        "clientState": sub.client_state,
                        "tenantId": self.server.identity.tenant_id,
                    }
                )
        if not value:
            return
        mailbox = store.mailbox_by_id(sub.mailbox_id)
        fault = throttle.take_fault(
            store, sub.resource, mailbox.smtp if mailbox else "", ("graph_drop_notification",)
        )
        if fault is not None:
            sub.dropped += len(value)
            if sub.lifecycle_url:
                self.lifecycle(sub, "missed")
            return
        if post_json(sub.notification_url, {"value": value}):
            sub.delivered += len(value)

    def lifecycle(self, sub: Subscription, event: str) -> bool:
        if not sub.lifecycle_url:
            return False
        body = {
            "value": [
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": _fmt(sub.expiration),
                    "tenantId": self.server.identity.tenant_id,
                    "clientState": sub.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        if event == "subscriptionRemoved":
            with self.lock:
                self.items.pop(sub.id, None)
        return post_json(sub.lifecycle_url, body)


def post_json(url: str, payload: dict[str, Any]) -> bool:
    request = urllib.request.Request(  # noqa: S310 - the subscriber's own http(s) URL
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=VALIDATION_TIMEOUT) as answer:  # noqa: S310
            return bool(200 <= answer.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def registry_of(server: Any) -> Registry:
    return throttle.attached(server, "graph_subscriptions", lambda: Registry(server))


def validate_endpoint(url: str) -> None:
    """The handshake: POST ?validationToken=...; the answer must be 200 with the token."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request(f"Invalid notification URL '{url}'.", "InvalidRequest")
    token = (
        "Validation: Testing client application reachability for subscription Request-Id: "
        f"{uuid.uuid4()}"
    )
    query = urllib.parse.urlencode({"validationToken": token})
    target = f"{url}{'&' if parts.query else '?'}{query}"
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        target, data=b"", headers={"Content-Type": "text/plain; charset=utf-8"}, method="POST"
    )
    failed = GraphError(
        400,
        "ValidationError",
        "Subscription validation request failed. Notification endpoint must respond with "
        "200 OK to validation request.",
    )
    try:
        with urllib.request.urlopen(request, timeout=VALIDATION_TIMEOUT) as answer:  # noqa: S310
            body = answer.read().decode("utf-8", "replace")
            if answer.status != 200 or body != token:
                raise failed
    except (urllib.error.URLError, OSError):
        raise failed from None


def _watched(
    req: Request, mailbox_id: int, folder_kind: str | None, match: re.Match[str]
) -> list[Folder]:
    store = req.store
    if folder_kind is None:  # every mail folder of the mailbox
        rows = store.conn.execute(
            "SELECT id FROM folders WHERE mailbox_id = ? AND deleted = 0", (mailbox_id,)
        ).fetchall()
        folders = [store.folder(r[0]) for r in rows]
        return [
            f
            for f in folders
            if f is not None
            and (f.folder_class or "") == "IPF.Note"
            and f.distinguished != "msgfolderroot"
        ]
    if folder_kind == "mail":
        given = match.group(2) or match.group(3)
    elif folder_kind == "tasks":
        given = match.group(2)
    else:
        given = folder_kind
    return [req.folder(given)]


def create(req: Request, claims: dict[str, Any]) -> Response:
    body = req.json()
    resource = str(body.get("resource") or "").strip().strip("/")
    change_types = tuple(
        c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip()
    )
    if not change_types or any(c not in CHANGE_TYPES for c in change_types):
        raise bad_request("changeType must list created, updated and/or deleted.", "InvalidRequest")
    url = str(body.get("notificationUrl") or "")
    lifecycle_url = body.get("lifecycleNotificationUrl")
    if not resource or not url or not body.get("expirationDateTime"):
        raise bad_request(
            "resource, changeType, notificationUrl and expirationDateTime are required.",
            "InvalidRequest",
        )
    if resource.lower().startswith("me/"):
        raise bad_request("/me request is only valid with delegated authentication flow.")
    found = next(((r, r[0].match(resource)) for r in RESOURCES if r[0].match(resource)), None)
    if found is None:
        raise bad_request(
            f"Resource '{resource}' is not supported for subscriptions.", "InvalidRequest"
        )
    (_, role, max_minutes, kind, folder_kind), match = found
    assert match is not None
    if role not in (claims.get("roles") or ()):
        raise GraphError(
            403,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied. "
            "Check credentials and try again.]",
        )
    mailbox = find_user(req.server, match.group(1))
    if mailbox is None:
        raise GraphError(
            404, "ErrorInvalidUser", f"The requested user '{match.group(1)}' is invalid."
        )
    app = req.server.identity.app(str(claims.get("appid", "")))
    if app is None or not app.may_reach(mailbox.smtp):
        raise policy_denied()
    expiration = _parse_time(body["expirationDateTime"])
    _check_lifetime(expiration, max_minutes)
    req.mailbox = mailbox
    folders = _watched(req, mailbox.id, folder_kind, match)
    validate_endpoint(url)
    if lifecycle_url:
        validate_endpoint(str(lifecycle_url))
    elif max_minutes > 4230 and expiration > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4230):
        raise bad_request(
            "lifecycleNotificationUrl is required for subscriptions longer than 4230 minutes.",
            "InvalidRequest",
        )
    sub = Subscription(
        id=str(uuid.uuid4()),
        resource=resource,
        change_types=change_types,
        notification_url=url,
        lifecycle_url=str(lifecycle_url) if lifecycle_url else None,
        client_state=str(body["clientState"]) if body.get("clientState") is not None else None,
        expiration=expiration,
        application_id=app.client_id,
        mailbox_id=mailbox.id,
        user_id=user_object_id(mailbox),
        kind=kind,
        max_minutes=max_minutes,
        folders={f.id: req.store.current_seq(mailbox.id) for f in folders},
    )
    registry = registry_of(req.server)
    with registry.lock:
        registry.items[sub.id] = sub
    registry.start()
    return Response(201, sub.json())


def _check_lifetime(expiration: dt.datetime, max_minutes: int) -> None:
    now = dt.datetime.now(dt.UTC)
    if expiration <= now:
        raise bad_request("Subscription expiration must be in the future.", "ExtensionError")
    if expiration > now + dt.timedelta(minutes=max_minutes):
        raise bad_request(
            "Operation: Create; Exception: [Status Code: BadRequest; Reason: Subscription "
            f"expiration can only be {max_minutes} minutes in the future.]",
            "ExtensionError",
        )


def _own(req: Request, claims: dict[str, Any], sub_id: str) -> Subscription:
    registry = registry_of(req.server)
    with registry.lock:
        sub = registry.items.get(sub_id)
    if sub is None or sub.application_id.lower() != str(claims.get("appid", "")).lower():
        raise GraphError(404, "ResourceNotFound", f"The object '{sub_id}' was not found.")
    return sub


def handle(req: Request, claims: dict[str, Any]) -> Response:
    """/subscriptions and /subscriptions/{id}."""
    path, method = req.path, req.method
    if len(path) == 1:
        if method == "POST":
            return create(req, claims)
        if method == "GET":
            registry = registry_of(req.server)
            with registry.lock:
                mine = [
                    s
                    for s in registry.items.values()
                    if s.application_id.lower() == str(claims.get("appid", "")).lower()
                ]
            return Response(200, {"value": [s.json() for s in mine]})
    if len(path) == 2:
        sub = _own(req, claims, path[1])
        if method == "GET":
            return Response(200, sub.json())
        if method == "PATCH":
            expiration = _parse_time(req.json().get("expirationDateTime"))
            _check_lifetime(expiration, sub.max_minutes)
            sub.expiration = expiration
            return Response(200, sub.json())
        if method == "DELETE":
            registry = registry_of(req.server)
            with registry.lock:
                registry.items.pop(sub.id, None)
            return Response(204)
    if len(path) == 3 and path[2].lower() == "reauthorize" and method == "POST":
        sub = _own(req, claims, path[1])
        with registry_of(req.server).lock:
            sub.reauthorized += 1
        return Response(204)
    raise bad_request(f"Resource not found for the segment '{path[-1]}'.")
