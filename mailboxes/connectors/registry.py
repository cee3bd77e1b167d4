"""Which connector serves a mailbox: one factory per protocol, chosen by the profile.

    connector = for_mailbox(mailbox, ctx)    # the engine

A second protocol (Microsoft Graph) adds its factory to `FACTORIES` and says in
`protocol_of` which profiles it serves; the engine does not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.ews.connector import EwsMailboxConnector

if TYPE_CHECKING:
    from mailboxes.connectors.base import MailboxConnector
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext
    from profiles.models import EmailServerProfile

Factory = Callable[["Mailbox", "CycleContext | None"], "MailboxConnector"]

FACTORIES: dict[str, Factory] = {"ews": EwsMailboxConnector.for_mailbox}


def protocol_of(profile: EmailServerProfile) -> str | None:
    """The protocol that syncs appointments, contacts and tasks for this profile, or None
    (POP3/IMAP profiles have none)."""
    if profile.is_exchange:
        return "ews"
    return None


def for_mailbox(mailbox: Mailbox, ctx: CycleContext | None = None) -> MailboxConnector:
    """The connector of the mailbox's profile; `ctx` shares its connection for the cycle."""
    profile = mailbox.profile
    if profile is None:
        raise PermanentSyncError("The mailbox has no email server profile.", code="no_profile")
    protocol = protocol_of(profile)
    if protocol is None:
        raise PermanentSyncError(
            "Appointments, contacts and tasks need an Exchange profile.", code="no_act_protocol"
        )
    return FACTORIES[protocol](mailbox, ctx)
