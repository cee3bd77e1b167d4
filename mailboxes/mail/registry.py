"""Which code moves a mailbox's mail, by the server type of its profile: one entry per
type, read by `mail/cycle.py` (no if/else on types elsewhere in the email engine).

An entry says how incoming mail is pulled (POP3 and IMAP by their own loops; EWS and Graph
through `paged.pull_folders` and the connector's `MailFolderSource`) and which `MailSender`
sends (SMTP, EWS, Graph). Each is made from the mailbox and its `MailConnections`: the
connections of one cycle, opened only when a channel needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailboxes.connectors.mail_base import MailSender
from mailboxes.connectors.settings import imap_settings, profile_of, smtp_settings
from mailboxes.connectors.smtp import SmtpMailSender
from mailboxes.connectors.smtp_imap import SmtpImapMailSender
from mailboxes.mail.filing import MailFiler
from mailboxes.mail.incoming import pull_imap, pull_pop3
from mailboxes.mail.paged import pull_folders
from mailboxes.mail.results import IncomingResult
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile

if TYPE_CHECKING:
    from mailboxes.connectors.ews import Account
    from mailboxes.connectors.graph.client import GraphClient
    from mailboxes.sync.context import CycleContext

ServerType = EmailServerProfile.ServerType


class MailConnections:
    """The connections of one mailbox for one cycle, made on first use (the cycle's own
    when it has them)."""

    def __init__(self, mailbox: Mailbox, ctx: CycleContext | None = None) -> None:
        self.mailbox = mailbox
        self.ctx = ctx
        self._account: Account | None = None
        self._graph: GraphClient | None = None

    def ews_account(self) -> Account:
        if self.ctx is not None:
            return self.ctx.ews_account()
        if self._account is None:
            from mailboxes.connectors.ews import account_for

            self._account = account_for(self.mailbox)
        return self._account

    def graph_client(self) -> GraphClient:
        if self._graph is None:
            from mailboxes.connectors.graph.client import GraphClient
            from mailboxes.connectors.settings import graph_settings

            self._graph = GraphClient(graph_settings(None, self.mailbox))
        return self._graph


Puller = Callable[[Mailbox, MailFiler, int, MailConnections], IncomingResult]
SenderFactory = Callable[[Mailbox, MailConnections], MailSender]


@dataclass(frozen=True)
class MailProtocol:
    pull: Puller
    sender: SenderFactory


def _pull_pop3(
    mailbox: Mailbox, filer: MailFiler, limit: int, connections: MailConnections
) -> IncomingResult:
    return pull_pop3(mailbox, filer, max_messages=limit)


def _pull_imap(
    mailbox: Mailbox, filer: MailFiler, limit: int, connections: MailConnections
) -> IncomingResult:
    return pull_imap(mailbox, filer, max_messages=limit)


def _smtp(mailbox: Mailbox, connections: MailConnections) -> MailSender:
    return SmtpMailSender(smtp_settings(mailbox))


def _smtp_with_imap(mailbox: Mailbox, connections: MailConnections) -> MailSender:
    """SMTP that keeps its sent copy in the IMAP Sent folder and looks there before any
    retry (`connectors/smtp_imap.py`)."""
    profile = profile_of(mailbox)
    return SmtpImapMailSender(
        smtp_settings(mailbox),
        imap_settings(mailbox),
        own_address=mailbox.email_address,
        server_saves_sent_copy=profile.smtp_saves_sent_copy,
    )


def _pull_ews(
    mailbox: Mailbox, filer: MailFiler, limit: int, connections: MailConnections
) -> IncomingResult:
    from mailboxes.connectors.ews.mail import EwsMailSource

    source = EwsMailSource(connections.ews_account())
    return pull_folders(mailbox, filer, source, max_messages=limit)


def _ews_sender(mailbox: Mailbox, connections: MailConnections) -> MailSender:
    from mailboxes.connectors.ews.mail import EwsMailSender

    return EwsMailSender(connections.ews_account())


def _pull_graph(
    mailbox: Mailbox, filer: MailFiler, limit: int, connections: MailConnections
) -> IncomingResult:
    from mailboxes.connectors.graph.mail import GraphMailSource

    source = GraphMailSource(connections.graph_client())
    return pull_folders(mailbox, filer, source, max_messages=limit)


def _graph_sender(mailbox: Mailbox, connections: MailConnections) -> MailSender:
    from mailboxes.connectors.graph.mail import GraphMailSender

    return GraphMailSender(connections.graph_client())


_POP3 = MailProtocol(pull=_pull_pop3, sender=_smtp)
_IMAP = MailProtocol(pull=_pull_imap, sender=_smtp_with_imap)
_EWS = MailProtocol(pull=_pull_ews, sender=_ews_sender)
_GRAPH = MailProtocol(pull=_pull_graph, sender=_graph_sender)

PROTOCOLS: dict[str, MailProtocol] = {
    ServerType.POP3_SMTP: _POP3,
    ServerType.IMAP_SMTP: _IMAP,
    ServerType.EXCHANGE: _EWS,
    ServerType.EXCHANGE_ONLINE: _EWS,
    ServerType.MICROSOFT_365: _GRAPH,
}


def protocol_of(server_type: str) -> MailProtocol:
    try:
        return PROTOCOLS[server_type]
    except KeyError:
        raise LookupError(f"no email protocol for server type {server_type!r}") from None
