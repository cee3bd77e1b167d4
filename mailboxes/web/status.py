"""A mailbox's state in plain words, for the person who owns it: the facts under the
status headline of `mailboxes.status_words`."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from crmsync.when import ago
from crmsync.words import count
from mailboxes import channels
from mailboxes.models import Mailbox


@dataclass(frozen=True)
class StatusLine:
    level: str  # "ok", "info", "warning" or "error": the colour of the line
    text: str


def _channel_line(label: str, status: str, processed_at: datetime | None) -> StatusLine:
    if status == Mailbox.ChannelStatus.SUCCESS:
        return StatusLine("ok", f"{label}: working, last synchronized {ago(processed_at)}.")
    if status == Mailbox.ChannelStatus.FAILURE:
        return StatusLine("error", f"{label}: failing.")
    return StatusLine("info", f"{label}: not synchronized yet.")


def describe(mailbox: Mailbox) -> list[StatusLine]:
    """The facts behind the status (`mailboxes.status_words`, shown above them): each
    channel, the last connection test, a running or the last synchronization. The server's
    own error text is not here but behind the status's "details"."""
    lines: list[StatusLine] = []
    now = timezone.now()
    if mailbox.test_status == Mailbox.ChannelStatus.SUCCESS:
        lines.append(StatusLine("ok", f"Connection test passed {ago(mailbox.tested_at)}."))
    elif mailbox.test_status == Mailbox.ChannelStatus.FAILURE:
        lines.append(StatusLine("error", f"Connection test failed {ago(mailbox.tested_at)}."))
    for channel in channels.CHANNELS:
        if channel.is_configured(mailbox):
            lines.append(
                _channel_line(channel.label, channel.status(mailbox), channel.processed_at(mailbox))
            )
        elif unavailable := channel.unavailable(mailbox):
            lines.append(StatusLine("info", unavailable))
    if mailbox.claimed_by and mailbox.claim_expires_at and mailbox.claim_expires_at > now:
        lines.append(StatusLine("info", "A synchronization is running right now."))
    if mailbox.last_sync_started_at:
        summary = (
            f"Last synchronization {ago(mailbox.last_sync_started_at)}: "
            f"{count(mailbox.items_processed, 'item')} processed"
        )
        if mailbox.items_failed:
            summary += f", {mailbox.items_failed} failed"
        lines.append(StatusLine("error" if mailbox.items_failed else "info", summary + "."))
    return lines
