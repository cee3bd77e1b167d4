"""Test & enable of a POP3 + SMTP or IMAP + SMTP mailbox (the `ConnectionTester`s of
those profiles): log in to POP3 or IMAP for incoming email (opening the IMAP inbox), to SMTP for
outgoing email; nothing is sent, fetched or deleted. Appointments, contacts and tasks need
Exchange or Microsoft 365, so there is nothing to open for them here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mailboxes.connectors.imap import ImapConnector
from mailboxes.connectors.pop3 import Pop3Connector
from mailboxes.connectors.settings import imap_settings, pop3_settings, smtp_settings
from mailboxes.connectors.smtp import SmtpConnector

if TYPE_CHECKING:
    from mailboxes.channels import Channel
    from mailboxes.models import Mailbox

IMAP_INBOX = "INBOX"


def check_pop3(mailbox: Mailbox, channels: Sequence[Channel]) -> list[str]:
    return _check(mailbox, channels, _open_pop3)


def check_imap(mailbox: Mailbox, channels: Sequence[Channel]) -> list[str]:
    return _check(mailbox, channels, _open_imap_inbox)


def _open_pop3(mailbox: Mailbox) -> str:
    with Pop3Connector(pop3_settings(mailbox)):
        return "the POP3 mailbox"


def _open_imap_inbox(mailbox: Mailbox) -> str:
    with ImapConnector(imap_settings(mailbox)) as imap:
        imap.select(IMAP_INBOX)
        return "the IMAP inbox"


def _check(
    mailbox: Mailbox, channels: Sequence[Channel], open_incoming: Callable[[Mailbox], str]
) -> list[str]:
    names = {channel.name for channel in channels}
    opened = []
    if "incoming" in names:
        opened.append(open_incoming(mailbox))
    if "outgoing" in names:
        with SmtpConnector(smtp_settings(mailbox)):
            opened.append("the SMTP server")
    return opened
