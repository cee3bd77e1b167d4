"""The email side of the connector seam: what the email engine (`mailboxes/mail/`) asks of
a protocol that keeps mail in folders paged by a cursor (EWS, Graph), and of any protocol
that sends mail (SMTP, EWS, Graph).

Incoming (`MailFolderSource`): a folder is paged from an opaque cursor (an EWS sync state, a
Graph delta link); a page names its new messages (id and what the page told about them, no
MIME) and the ids that left the folder, and carries the cursor after it. The engine skips
the ids it has filed, fetches the raw MIME of the others (`fetch`), files them, and may move
the ones it could not file to an "Undeliverable" folder under the Inbox. A cursor the server
no longer accepts raises `CursorLostError`: the engine starts the folder again from None,
and the ids it filed before keep anything from being filed twice.

Outgoing (`MailSender`): `send` sends a composed MIME stamped with the CRM email's id (its
`SendStamp`); where the protocol can look (`can_check_sent`), `already_sent(stamp)` says
whether a message with that stamp went out (or is waiting as a draft, which it then sends),
and the engine asks it before any retry, so a worker killed between the send and saving
its result does not send twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol

from mailboxes.connectors import ErrorKind, TransientSyncError

# One lost-cursor error for every seam (EWS ErrorInvalidSyncStateData, Graph 410
# SyncStateNotFound): the folder must be paged again from the start.
from mailboxes.connectors.base import CursorLostError


@dataclass(frozen=True)
class MailFolder:
    """A folder as the engine keys its state: `id` is stable across cycles (the server's id,
    or a well-known name the server resolves the same way every time)."""

    id: str
    name: str = ""
    handle: object = None  # the connector's own folder object


@dataclass(frozen=True)
class ListedFolder:
    """A mail folder below the Inbox as a listing shows it: the server's id, its display
    name and its path from the Inbox's child down ("Projects / Acme")."""

    id: str
    name: str
    path: str


# The Contacts folder itself, by the distinguished id the sync names it with over EWS and
# Graph alike: a contact import may select it with the folders below it.
CONTACTS_FOLDER = ListedFolder("contacts", "Contacts", "Contacts")


PATH_SEPARATOR = " / "


@dataclass(frozen=True)
class MessageRef:
    """A new message named by a page: its id and what the page told about it."""

    uid: str
    received_at: datetime | None = None
    handle: object = None  # what the connector needs to fetch it (EWS: the change key)


@dataclass(frozen=True)
class IncomingMessage:
    """A message to file: its raw MIME exactly as the server gave it, and where it is."""

    uid: str
    raw: bytes
    folder_id: str
    received_at: datetime | None = None
    conversation_id: str = ""
    handle: object = None  # what the connector needs to move it


@dataclass
class MailPage:
    new: list[MessageRef] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # ids moved out or deleted
    cursor: str = ""
    complete: bool = True  # the last page up to now; the next cycle starts from `cursor`


class MailFolderSource(Protocol):
    """Incoming mail of one mailbox over a folder-paging protocol (EWS, Graph)."""

    protocol: str  # the key of its folder states and processed messages ("ews", "graph")

    def inbox(self) -> MailFolder: ...

    def sent_items(self) -> MailFolder: ...

    def folder(self, folder_id: str, name: str = "") -> MailFolder:
        """A folder by its stored id (a tracking folder), without a request."""
        ...

    def pages(self, folder: MailFolder, cursor: str | None) -> Iterator[MailPage]:
        """Every page of changes after `cursor` (None: from the start). Raises
        `CursorLostError` when the server rejects the cursor."""
        ...

    def fetch(self, folder: MailFolder, refs: Sequence[MessageRef]) -> list[IncomingMessage]:
        """The raw MIME of these messages; messages gone since the page are left out."""
        ...

    def move_to_undeliverable(self, messages: Sequence[IncomingMessage]) -> None:
        """Move these messages to the "Undeliverable" folder under the Inbox (made if
        missing)."""
        ...


@dataclass(frozen=True)
class SendStamp:
    """What identifies one CRM email's message on the server, fixed before the first try."""

    email_id: int
    message_id: str


@dataclass(frozen=True)
class ComposedMessage:
    sender: str
    recipients: list[str]
    raw: bytes
    subject: str
    stamp: SendStamp | None = None


class MailSender(Protocol):
    """Sends composed messages for one mailbox during one pass."""

    # Whether `already_sent` can look; SMTP cannot.
    can_check_sent: bool

    def __enter__(self) -> MailSender: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def already_sent(self, stamp: SendStamp) -> bool:
        """Whether the message with this stamp went out (a draft of it left by a killed
        worker is sent now, and counts as sent)."""
        ...

    def send(self, message: ComposedMessage) -> dict[str, str]:
        """Send it once; the recipients the server refused, with its reason."""
        ...


class SendOutcomeUnknown(TransientSyncError):
    """The whole message went to the server but its answer never came (the connection
    dropped or timed out after the end of DATA): it may have been accepted. The engine
    looks before sending it again where the sender can (`can_check_sent`); elsewhere the
    email is left as "may have been sent"."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="send_outcome_unknown", kind=ErrorKind.NETWORK)


UNDELIVERABLE_FOLDER = "Undeliverable"

__all__ = [
    "UNDELIVERABLE_FOLDER",
    "ComposedMessage",
    "CursorLostError",
    "IncomingMessage",
    "MailFolder",
    "MailFolderSource",
    "MailPage",
    "MailSender",
    "MessageRef",
    "SendOutcomeUnknown",
    "SendStamp",
]
