"""Appointments, contacts and tasks: pull, push, conflicts and deletes for one mailbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailboxes.models import Mailbox
    from mailboxes.sync.cycle import CycleContext


def run_act(mailbox: Mailbox, ctx: CycleContext) -> None:
    """Sync every enabled item type of the mailbox."""
    return None
