"""The email channels of a sync cycle: what `mailboxes.sync.cycle` calls.

`run_incoming(mailbox, ctx)` / `run_outgoing(mailbox, ctx)` are the hooks (see
mailboxes/sync/README.md); `process_incoming(mailbox)` / `send_pending(mailbox)` do the work
and return what they did, and can be called directly (tests, benchmarks, tools). The code
that moves the mail is chosen by the profile's server type in `registry.PROTOCOLS`.
Connector errors propagate as `TransientSyncError` / `PermanentSyncError` for the cycle to
handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from mailboxes.connectors.settings import profile_of
from mailboxes.mail.filing import MailFiler
from mailboxes.mail.outgoing import send_pending as _send_pending
from mailboxes.mail.registry import MailConnections, protocol_of
from mailboxes.mail.results import IncomingResult, OutgoingResult
from mailboxes.mail.tracking_rules import apply_tracking_rules
from mailboxes.models import Mailbox

if TYPE_CHECKING:
    from mailboxes.sync.context import CycleContext


def process_incoming(
    mailbox: Mailbox, *, ctx: CycleContext | None = None, max_messages: int | None = None
) -> IncomingResult:
    """Pull and file new mail of one mailbox."""
    protocol = protocol_of(profile_of(mailbox).server_type)
    filer = MailFiler(mailbox)
    if ctx is not None:
        filer.heartbeat = ctx.heartbeat
    limit = max_messages if max_messages is not None else settings.CRMSYNC_INCOMING_MAX_PER_CYCLE
    result = protocol.pull(mailbox, filer, limit, MailConnections(mailbox, ctx))
    result.regarding_reapplied = apply_tracking_rules(mailbox)
    return result


def send_pending(mailbox: Mailbox, *, ctx: CycleContext | None = None) -> OutgoingResult:
    """Send the mailbox's due CRM email over SMTP, EWS or Graph."""
    protocol = protocol_of(profile_of(mailbox).server_type)
    connections = MailConnections(mailbox, ctx)
    return _send_pending(
        mailbox,
        sender=lambda: protocol.sender(mailbox, connections),
        heartbeat=ctx.heartbeat if ctx is not None else None,
    )


def run_incoming(mailbox: Mailbox, ctx: CycleContext) -> None:
    result = process_incoming(mailbox, ctx=ctx)
    ctx.add_processed(result.processed)
    ctx.add_failed(result.failed)


def run_outgoing(mailbox: Mailbox, ctx: CycleContext) -> None:
    result = send_pending(mailbox, ctx=ctx)
    ctx.add_processed(result.sent + result.found_already_sent)
    ctx.add_failed(result.failed)
