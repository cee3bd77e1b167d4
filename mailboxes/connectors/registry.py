"""Which connector syncs a mailbox's appointments, contacts and tasks: one factory per server
type of its profile (as `mailboxes/mail/registry.py` does for email).

    connector = for_mailbox(mailbox, ctx)    # the engine

A second protocol (Microsoft Graph, `ServerType.MICROSOFT_365`) adds its factory to
`FACTORIES`; the engine does not change. POP3/IMAP profiles have none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.ews.connector import EwsMailboxConnector
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from profiles.models import EmailServerProfile

if TYPE_CHECKING:
    from mailboxes.connectors.base import MailboxConnector
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext

Factory = Callable[["Mailbox", "CycleContext | None"], "MailboxConnector"]
ServerType = EmailServerProfile.ServerType

FACTORIES: dict[str, Factory] = {
    ServerType.EXCHANGE: EwsMailboxConnector.for_mailbox,
    ServerType.EXCHANGE_ONLINE: EwsMailboxConnector.for_mailbox,
    ServerType.MICROSOFT_365: GraphMailboxConnector.for_mailbox,
}


def for_mailbox(mailbox: Mailbox, ctx: CycleContext | None = None) -> MailboxConnector:
    """The connector of the mailbox's profile; `ctx` shares its connection for the cycle."""
    profile = mailbox.profile
    if profile is None:
        raise PermanentSyncError("The mailbox has no email server profile.", code="no_profile")
    factory = FACTORIES.get(profile.server_type)
    if factory is None:
        kind = profile.get_server_type_display()
        raise PermanentSyncError(
            f"Appointments, contacts and tasks are not synced on {kind} profiles yet.",
            code="no_act_protocol",
        )
    return factory(mailbox, ctx)
