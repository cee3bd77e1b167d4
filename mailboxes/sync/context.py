"""What a channel gets from the cycle besides the mailbox (`CycleContext`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from mailboxes.connectors.base import MailboxConnector
from mailboxes.connectors.registry import for_mailbox
from mailboxes.models import Mailbox
from mailboxes.sync import scheduling
from mailboxes.sync.scheduling import Claim

if TYPE_CHECKING:
    from mailboxes.connectors.ews import Account
    from mailboxes.sync.keeper import ClaimKeeper

ProgressCallback = Callable[[str, int, "int | None"], None]


@dataclass
class CycleContext:
    """What a channel gets besides the mailbox: the shared EWS account, counters, claim.

    Channels call `heartbeat()` between pages of work (it keeps the claim alive and raises
    `ClaimLost` if another worker took the mailbox over), `add_processed(n)` /
    `add_failed(n)` for the status fields, and `report_progress(label, done, total)` for the
    command line's progress bar.
    """

    mailbox: Mailbox
    claim: Claim | None = None
    full_resync: bool = False
    progress: ProgressCallback | None = None
    items_processed: int = 0
    items_failed: int = 0
    started_at: datetime = field(default_factory=timezone.now)
    _account: Account | None = None
    _connector: MailboxConnector | None = None
    _last_heartbeat: float = field(default_factory=time.monotonic)
    # Renews the claim from a thread while a call to a server blocks (`keeper.py`).
    keeper: ClaimKeeper | None = None

    def ews_account(self) -> Account:
        """The mailbox's exchangelib Account, made once per cycle (pooled per profile)."""
        if self._account is None:
            from mailboxes.connectors.ews import account_for

            self._account = account_for(self.mailbox)
        return self._account

    def connector(self) -> MailboxConnector:
        """The mailbox's connector for appointments, contacts and tasks (the protocol its
        profile uses), made once per cycle; on EWS it shares `ews_account()`."""
        if self._connector is None:
            self._connector = for_mailbox(self.mailbox, self)
        return self._connector

    def heartbeat(self) -> None:
        if self.claim is None:
            return
        keeper = self.keeper
        doubt = False
        if keeper is not None:
            keeper.progress()
            doubt, keeper.doubt = keeper.doubt, False
        # Extend once a third of the claim has passed: cheap, and never lets it lapse. When
        # the keeper found the claim gone, this thread's own renewal decides (ClaimLost).
        if doubt or time.monotonic() - self._last_heartbeat >= scheduling.claim_seconds() / 3:
            scheduling.extend_claim(self.claim)
            self._last_heartbeat = time.monotonic()
            if keeper is not None:
                keeper.renewed()

    def add_processed(self, count: int = 1) -> None:
        self.items_processed += count

    def add_failed(self, count: int = 1) -> None:
        self.items_failed += count

    def report_progress(self, label: str, done: int, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(label, done, total)
