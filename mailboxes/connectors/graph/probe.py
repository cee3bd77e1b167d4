"""What Test & enable asks Graph for a mailbox, and what the profile test reads off the token.

Test & enable opens what each channel of the mailbox reads (the Inbox, Sent Items, the
calendar, the contact folders, the To Do lists), one request each; Graph's 403 is turned into
the name of the role the token lacks (`errors.py`). The roles are not checked against the
token beforehand: an application scoped by Exchange Online RBAC for Applications holds its
permissions in Exchange, not in its token, and would be refused wrongly. Sending (Mail.Send)
cannot be tried without sending, so a token without it is only noted. Nothing is sent,
written or deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from mailboxes.connectors.graph import tokens
from mailboxes.connectors.graph.client import GraphClient, graph_scope
from mailboxes.connectors.settings import (
    AppCredentials,
    GraphSettings,
    app_credentials,
    graph_settings,
)

if TYPE_CHECKING:
    from mailboxes.channels import Channel
    from mailboxes.models import Mailbox
    from profiles.models import EmailServerProfile

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


def check_mailbox(settings: GraphSettings, channel_names: Iterable[str]) -> list[str]:
    """Open what the named channels read; what was opened (and what could not be checked),
    in words."""
    client = GraphClient(settings)
    token = tokens.access_token(settings.app, client.scope, timeout=settings.timeout_seconds)
    roles = tokens.token_roles(token)
    checks = [check for name in channel_names for check in CHANNEL_CHECKS.get(name, ())]
    opened = []
    for role, path, label in checks:
        if path is not None:
            client.get(path, params={"$top": "1"})
            opened.append(label)
        elif role not in roles:
            opened.append(
                f"not {ROLE_USES[role]}: the token has no {role} (fine only when Exchange "
                "Online RBAC for Applications grants it)"
            )
    return opened


def check_channels(mailbox: Mailbox, channels: Sequence[Channel]) -> list[str]:
    """The `ConnectionTester` over Graph."""
    return check_mailbox(graph_settings(None, mailbox), [channel.name for channel in channels])


def check_application(profile: EmailServerProfile) -> str:
    """The `ProfileTester` over Graph: a token for the profile's application, and which
    channels its roles allow, in words."""
    return roles_summary(
        app_credentials(profile),
        profile.graph_endpoint,
        timeout=profile.connection_timeout_ms / 1000,
    )


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
        text += (
            f"; not allowed: {'; '.join(lacking)} (unless Exchange Online RBAC for "
            "Applications grants them: those are not in the token)"
        )
    return text + "."
