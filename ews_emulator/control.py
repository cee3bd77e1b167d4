"""A small client for the emulator's control API (stdlib only).

from ews_emulator.control import ControlClient
control = ControlClient("http://127.0.0.1:8765")
control.create_mailbox("carol@example.com", "secret")
ids = control.seed("carol@example.com", "calendar", 100)
control.update_item(ids[0], {"Subject": "Moved by Outlook"})
control.inject_fault("server_busy", operation="SyncFolderItems", back_off_ms=2000)
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ControlError(RuntimeError):
    """The control API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class ControlClient:
    """Drive an emulator through `/control/`. `base_url` may be the EWS URL or the server root."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.ssl_context = ssl_context
        self.base_url = f"{parts.scheme}://{parts.netloc}/control"
        self.token = token
        self.timeout = timeout

    def _call(
        self,
        method: str,
        route: str,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        url = f"{self.base_url}/{route}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("X-Control-Token", self.token)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an HTTP URL: {url}")
        try:
            with urllib.request.urlopen(  # noqa: S310 - the scheme is checked above
                request, timeout=self.timeout, context=self.ssl_context
            ) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                message = json.loads(payload).get("error", "")
            except ValueError:
                message = payload.decode(errors="replace")
            raise ControlError(e.code, message) from None

    # -- server and mailboxes ---------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "health"))

    def mailboxes(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "mailboxes"))

    def create_mailbox(
        self,
        email: str,
        password: str,
        *,
        display_name: str | None = None,
        impersonator: bool = False,
    ) -> dict[str, Any]:
        body = {
            "email": email,
            "password": password,
            "display_name": display_name,
            "impersonator": impersonator,
        }
        return dict(self._call("POST", "mailboxes", body))

    def set_password(self, email: str, password: str) -> None:
        self._call("POST", "password", {"mailbox": email, "password": password})

    def folders(self, mailbox: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "folders", query={"mailbox": mailbox}))

    # -- items -------------------------------------------------------------------------------

    def items(self, mailbox: str, folder: str = "inbox") -> list[dict[str, Any]]:
        """Items of a folder (distinguished name such as "calendar", or a folder id)."""
        return list(self._call("GET", "items", query={"mailbox": mailbox, "folder": folder}))

    def item(self, item_id: str) -> dict[str, Any]:
        """One item: summary, `fields` (element name to value) and its full `xml`."""
        return dict(self._call("GET", "item", query={"id": item_id}))

    def create_item(
        self, mailbox: str, kind: str, fields: dict[str, Any], *, folder: str | None = None
    ) -> dict[str, Any]:
        body = {"mailbox": mailbox, "kind": kind, "fields": fields, "folder": folder}
        return dict(self._call("POST", "items", body))

    def seed(
        self,
        mailbox: str,
        kind: str,
        count: int,
        *,
        folder: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> list[str]:
        """Create `count` items of `kind` (calendar, contacts, tasks, messages); their ids."""
        body = {
            "mailbox": mailbox,
            "kind": kind,
            "count": count,
            "folder": folder,
            "fields": fields or {},
        }
        return list(self._call("POST", "seed", body)["ids"])

    def update_item(
        self, item_id: str, fields: dict[str, Any] | None = None, *, delete: list[str] | None = None
    ) -> dict[str, Any]:
        """Change an item as a user in Outlook would (new change key, reported by sync)."""
        body = {"id": item_id, "fields": fields or {}, "delete": delete or []}
        return dict(self._call("POST", "update", body))

    def delete_item(self, item_id: str, mode: str = "move_to_deleted_items") -> None:
        """Delete as a user would: `move_to_deleted_items` (default), `soft` or `hard`."""
        self._call("POST", "delete", {"id": item_id, "mode": mode})

    def move_item(self, item_id: str, folder: str) -> dict[str, Any]:
        return dict(self._call("POST", "move", {"id": item_id, "folder": folder}))

    def deliver(self, mailbox: str, mime: bytes | str, *, folder: str = "inbox") -> dict[str, Any]:
        """Deliver a raw RFC 822 message into a folder, as if it arrived by SMTP."""
        raw = mime.encode() if isinstance(mime, str) else mime
        body = {"mailbox": mailbox, "mime_base64": base64.b64encode(raw).decode(), "folder": folder}
        return dict(self._call("POST", "deliver", body))

    def deliver_many(self, mailbox: str, mimes: list[bytes], *, folder: str = "inbox") -> list[str]:
        """`deliver` for many messages in one call and one transaction; their item ids."""
        body = {
            "mailbox": mailbox,
            "mimes_base64": [base64.b64encode(raw).decode() for raw in mimes],
            "folder": folder,
        }
        return list(self._call("POST", "deliver_many", body)["ids"])

    def pending_deliveries(self) -> int:
        """How many sends this emulator process has accepted and not delivered yet."""
        return int(self._call("GET", "deliveries")["pending"])

    # -- faults ------------------------------------------------------------------------------

    def inject_fault(
        self,
        kind: str,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
        count: int = 1,
        back_off_ms: int = 0,
        delay_ms: int = 0,
    ) -> int:
        """Arm a fault for the next `count` matching EWS calls; see README.md for kinds."""
        body = {
            "kind": kind,
            "operation": operation,
            "mailbox": mailbox,
            "count": count,
            "back_off_ms": back_off_ms,
            "delay_ms": delay_ms,
        }
        return int(self._call("POST", "faults", body)["id"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # -- Entra ID applications (identity.py) --------------------------------------------------

    def register_app(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate_pem: str | None = None,
        roles: list[str] | None = None,
        mailboxes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Register or replace an application (no roles: all; no mailboxes: every mailbox)."""
        body = {
            "client_id": client_id,
            "secret": secret,
            "certificate_pem": certificate_pem,
            "roles": roles,
            "mailboxes": mailboxes,
        }
        return dict(self._call("POST", "apps", body))

    def apps(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "apps"))

    def expired_token(self, client_id: str, audience: str = "https://graph.microsoft.com") -> str:
        """A token the tenant signed that expired a minute ago."""
        body = {"client_id": client_id, "audience": audience}
        return str(self._call("POST", "tokens/expired", body)["access_token"])

    def revoke_tokens(self, client_id: str) -> None:
        """Every token issued to the application until now is refused from now on."""
        self._call("POST", "tokens/revoke", {"client_id": client_id})

    def tokens_issued(self) -> dict[str, int]:
        """Tokens Entra ID issued per application (client id)."""
        return {str(k): int(v) for k, v in self._call("GET", "tokens/issued").items()}

    def set_token_lifetime(self, seconds: int) -> int:
        """The lifetime of the tokens issued from now on (3599 s by default, as Entra ID's)."""
        return int(self._call("POST", "tokens/lifetime", {"seconds": seconds})["seconds"])

    # -- Graph (graph/throttle.py) -------------------------------------------------------------

    def inject_graph_fault(
        self,
        kind: str,
        *,
        path: str | None = None,
        mailbox: str | None = None,
        count: int = 1,
        retry_after: int = 1,
        delay_ms: int = 0,
    ) -> int:
        """Arm a fault for the next `count` Graph requests whose path contains `path`."""
        body = {
            "kind": kind,
            "path": path,
            "mailbox": mailbox,
            "count": count,
            "retry_after": retry_after,
            "delay_ms": delay_ms,
        }
        return int(self._call("POST", "graph/faults", body)["id"])

    def graph_counters(self, *, reset: bool = False) -> dict[str, Any]:
        """Graph requests and concurrency high-water mark per mailbox, throttled answers."""
        if reset:
            return dict(self._call("POST", "graph/counters/reset", {}))
        return dict(self._call("GET", "graph/counters"))

    def set_graph_limits(
        self,
        *,
        concurrency: int | None = None,
        rate: int | None = None,
        window_s: float | None = None,
    ) -> dict[str, Any]:
        body = {
            k: v
            for k, v in {"concurrency": concurrency, "rate": rate, "window_s": window_s}.items()
            if v is not None
        }
        return dict(self._call("POST", "graph/limits", body))

    def graph_subscriptions(self) -> list[dict[str, Any]]:
        """Graph subscriptions of the process, with notifications delivered and dropped."""
        return list(self._call("GET", "graph/subscriptions"))

    def send_lifecycle(self, subscription_id: str, event: str) -> bool:
        """Send a lifecycle notification: reauthorizationRequired, subscriptionRemoved, missed."""
        body = {"subscription_id": subscription_id, "event": event}
        return bool(self._call("POST", "graph/lifecycle", body)["delivered"])
