"""Control API routes for Entra ID and Graph (merged into `control_api.ROUTES`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


ROUTES = {
    ("POST", "apps"): register_app,
    ("GET", "apps"): list_apps,
    ("POST", "tokens/expired"): expired_token,
}
