"""What the filer works with: where a message came from, what became of it, and a batch's
entries on their way through `MailFiler`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from activities.models import ActivityParty, Email
from mailboxes.mail.mime import Address, ParsedMessage
from mailboxes.models import Mailbox, MailboxTrackingFolder


@dataclass(frozen=True)
class MessageSource:
    """Where a message came from on the server, and what the server told about it."""

    protocol: str = ""  # ProcessedMessage protocol; "" files without recording (tests, tools)
    folder_id: str = "INBOX"
    uid: str = ""
    uid_validity: int = 0
    received_at: datetime | None = None  # IMAP INTERNALDATE, EWS DateTimeReceived
    conversation_id: str = ""  # EWS ConversationId
    tracking_folder: MailboxTrackingFolder | None = None
    sent: bool = False  # found in Sent Items: the mailbox's owner sent it


@dataclass
class FilingOutcome:
    outcome: str
    email: Email | None = None
    error: str = ""
    correlation: str = ""


@dataclass
class Target:
    """Who the message is filed for: the mailbox's owner, or a forward's sender."""

    mailbox: Mailbox
    user_id: int | None
    queue_id: int | None
    address: str
    tracking_option: str


@dataclass
class Entry:
    """One message of a batch on its way through the filer."""

    raw: bytes
    source: MessageSource
    parsed: ParsedMessage
    too_old: bool = False
    # What is filed, for whom: for a forward mailbox the forwarded message and its sender.
    target: Target | None = None
    message: ParsedMessage | None = None
    message_raw: bytes = b""
    message_id: str = ""
    # Why it cannot be filed: kept raw with this error.
    error: str = ""
    error_code: str = "mail_not_filed"


class UnknownForwarder(Exception):
    pass


def received_after(mailbox: Mailbox) -> datetime | None:
    """The cut-off: the mailbox's own date, else its profile's."""
    if mailbox.process_emails_received_after is not None:
        return mailbox.process_emails_received_after
    profile = mailbox.profile
    return profile.process_emails_received_after if profile is not None else None


def party_roles(message: ParsedMessage) -> dict[str, list[Address]]:
    """The message's addresses by the party role each gets on the email."""
    return {
        ActivityParty.Role.FROM: [message.sender] if message.sender else [],
        ActivityParty.Role.TO: message.to,
        ActivityParty.Role.CC: message.cc,
        ActivityParty.Role.BCC: message.bcc,
    }


def raw_file_name() -> str:
    """A fresh file name for a kept raw message."""
    return f"{uuid.uuid4().hex}.eml"
