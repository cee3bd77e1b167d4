"""What each server type of a profile offers outside email (`mailboxes/mail/registry.py`
does email): one `ServerProtocol` per protocol, one entry per server type. The engine
asks here and never tests a server type.

    connector = for_mailbox(mailbox, ctx)          # appointments, contacts and tasks
    protocol_of(profile).tester(mailbox, channels)  # test & enable
    protocol_of(profile).folder_lister              # the Inbox's folders, or None
    protocol_of(profile).contact_folder_lister      # Contacts and its folders, or None
    protocol_of(profile).push_listener              # a change stream, or None
    protocol_of(profile).profile_tester             # a profile test's first check, or None

A new protocol adds one `ServerProtocol` (the interfaces are in `base.py` and
`services.py`); the engine does not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.ews import listing as ews_listing
from mailboxes.connectors.ews import push as ews_push
from mailboxes.connectors.ews.connector import EwsMailboxConnector
from mailboxes.connectors.ews.connector import check_channels as check_ews
from mailboxes.connectors.graph import listing as graph_listing
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.connectors.graph.probe import check_application
from mailboxes.connectors.graph.probe import check_channels as check_graph
from mailboxes.connectors.pop3_imap import check_imap, check_pop3
from mailboxes.connectors.services import (
    ConnectionTester,
    FolderLister,
    ProfileTester,
    PushListener,
)
from profiles.models import EmailServerProfile

if TYPE_CHECKING:
    from mailboxes.connectors.base import MailboxConnector
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext

Factory = Callable[["Mailbox", "CycleContext | None"], "MailboxConnector"]
ServerType = EmailServerProfile.ServerType


@dataclass(frozen=True)
class ServerProtocol:
    """One protocol's implementations; None where the protocol offers nothing."""

    tester: ConnectionTester
    connector: Factory | None = None  # appointments, contacts and tasks
    folder_lister: FolderLister | None = None
    contact_folder_lister: FolderLister | None = None
    push_listener: PushListener | None = None
    profile_tester: ProfileTester | None = None  # before the mailboxes of a profile test


EWS = ServerProtocol(
    tester=check_ews,
    connector=EwsMailboxConnector.for_mailbox,
    folder_lister=ews_listing.list_inbox_folders,
    contact_folder_lister=ews_listing.list_contact_folders,
    push_listener=ews_push.listen,
)
# Graph pushes changes to `mailboxes/webhooks/` (subscriptions beat keeps): no listener.
GRAPH = ServerProtocol(
    tester=check_graph,
    connector=GraphMailboxConnector.for_mailbox,
    folder_lister=graph_listing.list_inbox_folders,
    contact_folder_lister=graph_listing.list_contact_folders,
    profile_tester=check_application,
)
POP3 = ServerProtocol(tester=check_pop3)
IMAP = ServerProtocol(tester=check_imap)

PROTOCOLS: dict[str, ServerProtocol] = {
    ServerType.EXCHANGE: EWS,
    ServerType.EXCHANGE_ONLINE: EWS,
    ServerType.MICROSOFT_365: GRAPH,
    ServerType.POP3_SMTP: POP3,
    ServerType.IMAP_SMTP: IMAP,
}


def protocol_of(profile: EmailServerProfile | None) -> ServerProtocol:
    if profile is None:
        raise PermanentSyncError("The mailbox has no email server profile.", code="no_profile")
    protocol = PROTOCOLS.get(profile.server_type)
    if protocol is None:
        raise PermanentSyncError(
            f"The profile's server type {profile.server_type!r} is unknown.",
            code="unknown_server_type",
        )
    return protocol


def server_types_where(offered: Callable[[ServerProtocol], object]) -> list[str]:
    """The server types whose protocol offers what `offered` reads (for queries):
    `server_types_where(lambda p: p.push_listener)`."""
    return [kind for kind, protocol in PROTOCOLS.items() if offered(protocol) is not None]


def for_mailbox(mailbox: Mailbox, ctx: CycleContext | None = None) -> MailboxConnector:
    """The connector of the mailbox's profile; `ctx` shares its connection for the cycle."""
    profile = mailbox.profile
    factory = protocol_of(profile).connector
    if factory is None:
        assert profile is not None
        kind = profile.get_server_type_display()
        raise PermanentSyncError(
            f"Appointments, contacts and tasks are not synced on {kind} profiles yet.",
            code="no_act_protocol",
        )
    return factory(mailbox, ctx)


def folder_lister(mailbox: Mailbox) -> FolderLister:
    """How the mailbox's Inbox folders are listed; a clear refusal where they cannot be."""
    return _offered(protocol_of(mailbox.profile).folder_lister, "Folders")


def contact_folder_lister(mailbox: Mailbox) -> FolderLister:
    """How the mailbox's contact folders are listed; a clear refusal where they cannot be."""
    return _offered(protocol_of(mailbox.profile).contact_folder_lister, "Contact folders")


def _offered(lister: FolderLister | None, folders: str) -> FolderLister:
    if lister is None:
        raise PermanentSyncError(
            f"{folders} can be listed on Exchange and Microsoft 365 mailboxes only.",
            code="not_exchange",
        )
    return lister
