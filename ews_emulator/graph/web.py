"""Routes beside EWS on the same port: Entra ID (`/{tenant}/oauth2/v2.0/token`, discovery,
keys) and Microsoft Graph (`/v1.0/...`). `serve` answers a request when it is one of ours."""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from ..identity import EntraError

if TYPE_CHECKING:
    from ..server import EwsHandler

JSON = "application/json; charset=utf-8"


def base_url(handler: EwsHandler) -> str:
    host = handler.headers.get("Host") or "{}:{}".format(*handler.server.server_address[:2])
    return f"{handler.server.scheme}://{host}"


def send_json(
    handler: EwsHandler, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    handler._send(status, body, JSON, headers)


def serve(handler: EwsHandler, method: str) -> bool:
    """Answer the request if its path is an Entra ID or Graph route; False otherwise."""
    parts = urllib.parse.urlsplit(handler.path)
    path = parts.path
    segments = [s for s in path.split("/") if s]
    if segments[:1] == ["v1.0"]:
        from .api import serve_graph

        serve_graph(handler, method, parts)
        return True
    if len(segments) < 2 or segments[0].lower() in ("control", "ews"):
        return False
    return _entra(handler, method, segments, parts.query)


def _entra(handler: EwsHandler, method: str, segments: list[str], query: str) -> bool:
    identity = handler.server.identity
    base = base_url(handler)
    tenant, rest = segments[0], "/".join(segments[1:]).lower()
    if method == "GET" and rest in (
        "v2.0/.well-known/openid-configuration",
        ".well-known/openid-configuration",
    ):
        if not identity.knows_tenant(tenant):
            send_json(handler, 400, _tenant_error(tenant).body())
            return True
        v2 = rest.startswith("v2.0")
        send_json(handler, 200, identity.openid_configuration(base, tenant, v2=v2))
        return True
    if method == "GET" and rest in ("discovery/v2.0/keys", "discovery/keys"):
        send_json(handler, 200, identity.jwks())
        return True
    if method == "GET" and rest == "discovery/instance":
        args = dict(urllib.parse.parse_qsl(query))
        send_json(
            handler, 200, identity.instance_discovery(base, args.get("authorization_endpoint", ""))
        )
        return True
    if rest in ("oauth2/v2.0/token", "oauth2/token"):
        body = handler._body()
        if method != "POST":
            send_json(handler, 405, {"error": "invalid_request"})
            return True
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        _basic_client(handler, form)
        token_url = f"{base}/{tenant}/{'/'.join(segments[1:])}"
        try:
            answer = identity.issue(tenant, form, token_url)
        except EntraError as e:
            send_json(handler, e.status, e.body())
            return True
        send_json(handler, 200, answer, {"Cache-Control": "no-store, no-cache"})
        return True
    return False


def _tenant_error(tenant: str) -> EntraError:
    return EntraError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def _basic_client(handler: EwsHandler, form: dict[str, str]) -> None:
    """client_secret_basic: the client id and secret in an Authorization header."""
    header = handler.headers.get("Authorization", "")
    if not header.lower().startswith("basic ") or "client_secret" in form:
        return
    try:
        user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return
    form.setdefault("client_id", urllib.parse.unquote_plus(user))
    form["client_secret"] = urllib.parse.unquote_plus(secret)
