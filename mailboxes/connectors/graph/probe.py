"""What Test & enable asks Graph for a mailbox, and what the profile test reads off the token.

Test & enable opens what each channel of the mailbox reads (the Inbox, Sent Items, the
calendar, the contact folders, the To Do lists), after checking that the application's token
carries the role each of them needs, so that a missing role is named before Graph answers a
bare 403. Nothing is sent, written or deleted.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailboxes.connectors import authentication_failed
from mailboxes.connectors.graph import tokens
from mailboxes.connectors.graph.client import GraphClient, graph_scope
from mailboxes.connectors.settings import AppCredentials, GraphSettings

# The Graph application permissions crmsync uses, with what each allows.
ROLE_USES = {
    "Mail.ReadWrite": "incoming email, and the drafts and Sent Items of outgoing email",
    "Mail.Send": "sending outgoing email",
    "Calendars.ReadWrite": "appointments",
    "Contacts.ReadWrite": "contacts",
    "Tasks.ReadWrite": "tasks",
}
# Channel name → (role, what Test & enable opens with it: a path, or None for none, label).
CHANNEL_CHECKS: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "incoming": (("Mail.ReadWrite", "mailFolders/inbox", "the Inbox"),),
    "outgoing": (
        ("Mail.ReadWrite", "mailFolders/sentitems", "Sent Items"),
        ("Mail.Send", None, ""),
    ),
    "act": (
        ("Calendars.ReadWrite", "events", "the calendar"),
        ("Contacts.ReadWrite", "contactFolders", "the contact folders"),
        ("Tasks.ReadWrite", "todo/lists", "the To Do lists"),
    ),
}


def missing_roles_error(app_id: str, missing: Iterable[str]) -> Exception:
    named = ", ".join(f"{role} ({ROLE_USES.get(role, role)})" for role in missing)
    return authentication_failed(
        f"The application {app_id} lacks the Microsoft Graph application permission(s) "
        f"{named}: add them under API permissions (Microsoft Graph, Application "
        "permissions) and grant admin consent for the tenant.",
        code="missing_role",
    )


def check_mailbox(settings: GraphSettings, channel_names: Iterable[str]) -> list[str]:
    """Open what the named channels read; what was opened, in words."""
    client = GraphClient(settings)
    token = tokens.access_token(settings.app, client.scope, timeout=settings.timeout_seconds)
    roles = tokens.token_roles(token)
    checks = [check for name in channel_names for check in CHANNEL_CHECKS.get(name, ())]
    missing = sorted({role for role, _, _ in checks if role not in roles})
    if missing:
        raise missing_roles_error(settings.app.client_id, missing)
    opened = []
    for _, path, label in checks:
        if path is not None:
            client.get(path, params={"$top": "1"})
            opened.append(label)
    return opened


def roles_summary(app: AppCredentials, endpoint: str, *, timeout: float = 30.0) -> str:
    """A token for the application, and which channels its roles allow, in words. Raises the
    token endpoint's refusal (wrong secret, expired certificate...) as a connector error."""
    token = tokens.access_token(app, graph_scope(endpoint), timeout=timeout)
    roles = tokens.token_roles(token)
    allowed = [f"{ROLE_USES[r]} ({r})" for r in ROLE_USES if r in roles]
    lacking = [f"{ROLE_USES[r]} ({r})" for r in ROLE_USES if r not in roles]
    text = f"Entra ID issued a token to application {app.client_id}"
    text += f"; its roles allow {'; '.join(allowed)}" if allowed else " with no Graph roles"
    if lacking:
        text += f"; not allowed: {'; '.join(lacking)}"
    return text + "."
