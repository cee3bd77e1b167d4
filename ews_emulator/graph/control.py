"""Control API routes for Entra ID and Graph (merged into `control_api.ROUTES`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import throttle

if TYPE_CHECKING:
    from ..server import EmulatorServer


def _app_view(app: Any) -> dict[str, Any]:
    return {
        "client_id": app.client_id,
        "display_name": app.display_name,
        "roles": sorted(app.roles),
        "mailboxes": sorted(app.mailboxes) if app.mailboxes is not None else None,
        "certificate": app.certificate_pem is not None,
    }


def register_app(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Register (or replace) an application: client_id, secret and/or certificate_pem,
    roles (default all), mailboxes (default all)."""
    mailboxes = args.get("mailboxes")
    app = server.identity.register_app(
        str(args.get("client_id", "")),
        secret=args.get("secret"),
        certificate_pem=args.get("certificate_pem"),
        roles=list(args.get("roles") or []),
        mailboxes=[str(m) for m in mailboxes] if mailboxes is not None else None,
        display_name=args.get("display_name"),
    )
    return _app_view(app)


def list_apps(server: EmulatorServer, args: dict[str, Any]) -> Any:
    return [_app_view(a) for a in server.identity.apps()]


def expired_token(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """A token signed by the tenant that expired a minute ago, to test 401 handling."""
    audience = str(args.get("audience") or "https://graph.microsoft.com")
    token = server.identity.mint_expired(str(args.get("client_id", "")), audience)
    return {"access_token": token}


def tokens_issued(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Tokens issued per application (client id) since the emulator started."""
    with server.identity._lock:
        return dict(server.identity.issued)


def token_lifetime(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Set the lifetime (seconds, `expires_in`) of the tokens issued from now on."""
    server.identity.token_lifetime = int(args.get("seconds", server.identity.token_lifetime))
    return {"seconds": server.identity.token_lifetime}


def revoke_tokens(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Revoke every token issued to the application until now (EWS and Graph refuse them)."""
    server.identity.revoke_tokens(str(args.get("client_id", "")))
    return {"revoked": True}


def add_graph_fault(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Arm a Graph fault: kind (graph_400, graph_429, graph_503, graph_410, graph_401, graph_delay,
    graph_drop_notification), path (a part of the request path, e.g. `messages/delta`),
    mailbox, count, retry_after (seconds), delay_ms."""
    fault_id = throttle.add_fault(
        server.store,
        str(args.get("kind", "")),
        path=args.get("path"),
        mailbox=args.get("mailbox"),
        count=int(args.get("count", 1)),
        retry_after=int(args.get("retry_after", 1) or 1),
        delay_ms=int(args.get("delay_ms", 0) or 0),
    )
    return {"id": fault_id}


def graph_counters(server: EmulatorServer, args: dict[str, Any]) -> Any:
    return throttle.limits_of(server).counters()


def reset_graph_counters(server: EmulatorServer, args: dict[str, Any]) -> Any:
    throttle.limits_of(server).reset()
    return throttle.limits_of(server).counters()


def set_graph_limits(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Change the throttling limits: concurrency, rate (requests) per window_s seconds."""
    limits = throttle.limits_of(server)
    with limits.lock:
        limits.concurrency = int(args.get("concurrency", limits.concurrency))
        limits.rate = int(args.get("rate", limits.rate))
        limits.window = float(args.get("window_s", limits.window))
    return limits.counters()["limits"]


def lifecycle(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Send a lifecycle notification (reauthorizationRequired, subscriptionRemoved, missed)."""
    from .subscriptions import LIFECYCLE_EVENTS, registry_of

    event = str(args.get("event", ""))
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(f"event must be one of {LIFECYCLE_EVENTS}")
    registry = registry_of(server)
    with registry.lock:
        sub = registry.items.get(str(args.get("subscription_id", "")))
    if sub is None:
        raise ValueError(f"no subscription {args.get('subscription_id')}")
    return {"delivered": registry.lifecycle(sub, event)}


def list_subscriptions(server: EmulatorServer, args: dict[str, Any]) -> Any:
    from .subscriptions import registry_of

    registry = registry_of(server)
    with registry.lock:
        subs = list(registry.items.values())
    return [
        s.json() | {"delivered": s.delivered, "dropped": s.dropped, "reauthorized": s.reauthorized}
        for s in subs
    ]


ROUTES = {
    ("POST", "graph/lifecycle"): lifecycle,
    ("GET", "graph/subscriptions"): list_subscriptions,
    ("POST", "graph/faults"): add_graph_fault,
    ("GET", "graph/counters"): graph_counters,
    ("POST", "graph/counters/reset"): reset_graph_counters,
    ("POST", "graph/limits"): set_graph_limits,
    ("POST", "apps"): register_app,
    ("GET", "apps"): list_apps,
    ("POST", "tokens/expired"): expired_token,
    ("POST", "tokens/revoke"): revoke_tokens,
    ("GET", "tokens/issued"): tokens_issued,
    ("POST", "tokens/lifetime"): token_lifetime,
}
