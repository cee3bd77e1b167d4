"""What a protocol offers a mailbox besides syncing, as three small typed interfaces;
`registry.protocol_of` picks each server type's implementations (EWS, Graph, POP3/IMAP),
so test & enable, the folder listing and the push listener never test a server type.

- `ConnectionTester`: log in and open what the mailbox's channels read, sending nothing
  (every protocol);
- `FolderLister`: the mail folders below the Inbox, which tracking folders are chosen
  from, and Contacts with the contact folders below it, which a contact import's folders
  are chosen from (EWS and Graph);
- `ProfileTester` (optional): what a profile test checks of the profile itself before its
  mailboxes (over Graph: the application's token and roles);
- `PushListener`: a stream of change notifications held open by the listener process
  (EWS streaming; Graph pushes through `mailboxes/webhooks/` instead, POP3/IMAP not at all).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mailboxes.channels import Channel
    from mailboxes.connectors.mail_base import ListedFolder
    from mailboxes.models import Mailbox
    from profiles.models import EmailServerProfile


class ConnectionTester(Protocol):
    def __call__(self, mailbox: Mailbox, channels: Sequence[Channel]) -> list[str]:
        """Log in and open what these channels of the mailbox read; what was opened, in
        words. Nothing is sent, fetched or deleted; a failure is raised as a `SyncError`."""
        ...


class ProfileTester(Protocol):
    def __call__(self, profile: EmailServerProfile) -> str:
        """Check the profile's own credentials; what was found, in words. A failure is
        raised as a `SyncError`."""
        ...


class FolderLister(Protocol):
    def __call__(self, mailbox: Mailbox, *, limit: int) -> list[ListedFolder]:
        """The folders (below the mailbox's Inbox; or Contacts and those below it) with
        their paths, by path, at most `limit`."""
        ...


class PushListener(Protocol):
    def __call__(
        self, mailbox: Mailbox, channels: Sequence[Channel], *, connection_minutes: int
    ) -> Generator[set[str], None, None]:
        """Subscribe to the folders these channels of the mailbox read and yield the kinds
        of events of each notification ("StatusEvent" alone is a keep-alive) until the
        connection ends after `connection_minutes`; closing the generator ends it sooner."""
        ...
