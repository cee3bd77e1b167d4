"""The email channels of a sync cycle: what `mailboxes.sync.cycle` calls.

`run_incoming(mailbox, ctx)` / `run_outgoing(mailbox, ctx)` are the hooks (see
mailboxes/sync/README.md); `process_incoming(mailbox)` / `send_pending(mailbox)` do the work
and return what they did, and can be called directly (tests, benchmarks, tools). Connector
errors propagate as `TransientSyncError` / `PermanentSyncError` for the cycle to handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings

from mailboxes.connectors.settings import profile_of
from mailboxes.mail.filing import MailFiler
from mailboxes.mail.incoming import pull_imap, pull_pop3
from mailboxes.mail.outgoing import send_pending as _send_pending
from mailboxes.mail.outgoing import transport_for
from mailboxes.mail.results import IncomingResult, OutgoingResult
from mailboxes.mail.tracking_rules import apply_tracking_rules
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile

if TYPE_CHECKING:
    from mailboxes.sync.context import CycleContext

ServerType = EmailServerProfile.ServerType


def process_incoming(
    mailbox: Mailbox,
    *,
    ctx: CycleContext | None = None,
    max_messages: int | None = None,
    account: Any = None,
) -> IncomingResult:
    """Pull and file new mail of one mailbox. `account`: an exchangelib Account (tests)."""
    profile = profile_of(mailbox)
    filer = MailFiler(mailbox)
    if ctx is not None:
        filer.heartbeat = ctx.heartbeat
    limit = max_messages if max_messages is not None else settings.CRMSYNC_INCOMING_MAX_PER_CYCLE
    if profile.server_type == ServerType.POP3_SMTP:
        result = pull_pop3(mailbox, filer, max_messages=limit)
    elif profile.server_type == ServerType.IMAP_SMTP:
        result = pull_imap(mailbox, filer, max_messages=limit)
    else:
        from mailboxes.mail.ews import pull_ews

        if account is None:
            account = ctx.ews_account() if ctx is not None else _account_for(mailbox)
        result = pull_ews(mailbox, filer, account=account, max_messages=limit)
    result.regarding_reapplied = apply_tracking_rules(mailbox)
    return result


def send_pending(
    mailbox: Mailbox, *, ctx: CycleContext | None = None, account: Any = None
) -> OutgoingResult:
    """Send the mailbox's due CRM email over SMTP or EWS."""
    profile = profile_of(mailbox)
    if profile.is_exchange and account is None:
        account = ctx.ews_account() if ctx is not None else _account_for(mailbox)
    transport = transport_for(mailbox, account=account)
    return _send_pending(
        mailbox, transport=transport, heartbeat=ctx.heartbeat if ctx is not None else None
    )


def run_incoming(mailbox: Mailbox, ctx: CycleContext) -> None:
    result = process_incoming(mailbox, ctx=ctx)
    ctx.add_processed(result.processed)
    ctx.add_failed(result.failed)


def run_outgoing(mailbox: Mailbox, ctx: CycleContext) -> None:
    result = send_pending(mailbox, ctx=ctx)
    ctx.add_processed(result.sent + result.found_already_sent)
    ctx.add_failed(result.failed)


def _account_for(mailbox: Mailbox) -> Any:
    from mailboxes.connectors.ews import account_for

    return account_for(mailbox)
