"""A mailbox's state in plain words, for the person who owns it."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from crmsync.when import ago, within
from crmsync.words import count
from mailboxes import channels
from mailboxes.models import Mailbox


@dataclass(frozen=True)
class StatusLine:
    level: str  # "ok", "info", "warning" or "error": the colour of the line
    text: str


def _channel_line(label: str, status: str, processed_at: datetime | None, error: str) -> StatusLine:
    if status == Mailbox.ChannelStatus.SUCCESS:
        return StatusLine("ok", f"{label}: working, last synchronized {ago(processed_at)}.")
    if status == Mailbox.ChannelStatus.FAILURE:
        reason = f" The server said: {error}" if error else ""
        return StatusLine("error", f"{label}: failing.{reason}")
    return StatusLine("info", f"{label}: not synchronized yet.")


def describe(mailbox: Mailbox) -> list[StatusLine]:
    """What is happening with this mailbox, most important first."""
    lines: list[StatusLine] = []
    now = timezone.now()
    profile = mailbox.profile
    if not mailbox.is_active:
        lines.append(StatusLine("warning", "This mailbox is turned off: nothing is synchronized."))
    address_pending = mailbox.email_address != mailbox.approved_email_address
    if mailbox.approval_status == Mailbox.ApprovalStatus.PENDING or (
        mailbox.approval_status == Mailbox.ApprovalStatus.APPROVED and address_pending
    ):
        lines.append(
            StatusLine(
                "warning",
                "Waiting for an administrator to approve this email address. "
                "Nothing is synchronized until then.",
            )
        )
    elif mailbox.approval_status == Mailbox.ApprovalStatus.REJECTED:
        lines.append(
            StatusLine(
                "error",
                "An administrator rejected this email address. Ask them why, or correct it.",
            )
        )
    if profile is None:
        lines.append(
            StatusLine(
                "warning",
                "No email server is set up for this mailbox yet: ask an administrator.",
            )
        )
    elif not profile.is_active:
        lines.append(
            StatusLine("warning", f"The email server profile “{profile.name}” is turned off.")
        )

    if mailbox.test_status == Mailbox.ChannelStatus.SUCCESS:
        lines.append(StatusLine("ok", f"Connection test passed {ago(mailbox.tested_at)}."))
    elif mailbox.test_status == Mailbox.ChannelStatus.FAILURE:
        lines.append(StatusLine("error", f"Connection test failed {ago(mailbox.tested_at)}."))

    error = mailbox.last_error_text
    for channel in channels.CHANNELS:
        if channel.is_configured(mailbox):
            lines.append(
                _channel_line(
                    channel.label, channel.status(mailbox), channel.processed_at(mailbox), error
                )
            )
        elif unavailable := channel.unavailable(mailbox):
            lines.append(StatusLine("info", unavailable))

    postponed = [
        moment
        for moment in (channel.postponed_until(mailbox) for channel in channels.CHANNELS)
        if moment and moment > now
    ]
    if postponed:
        lines.append(
            StatusLine(
                "warning",
                "The server asked us to wait, or errors repeated: the next try is "
                f"{within(max(postponed))}.",
            )
        )
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
