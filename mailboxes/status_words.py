"""A mailbox's status in a few words, the same on the self-service page, the admin list and
the JSON status endpoint: "Working", "Waiting for approval", "Wrong password — save the new
one", "Server busy, retrying at 14:05", "Failing: …".

Built on the error taxonomy (`mailboxes.connectors.ErrorKind`, kept in
`Mailbox.last_error_kind`): each kind gets its words, and each known error code a plain
sentence saying why; the raw server text stays in `details`, shown behind a toggle.
Times are shown in the active time zone (the user's, see `users.middleware`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from mailboxes import channels
from mailboxes.connectors import ErrorKind
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile


@dataclass(frozen=True)
class MailboxStatus:
    key: str  # stable, for scripts and CSS: "working", "postponed", "failing", ...
    level: str  # "ok", "info", "warning" or "error": the colour
    words: str  # the status in a few words
    reason: str = ""  # why, in a plain sentence ("" when nothing is wrong)
    details: str = ""  # the server's own text, for the "details" toggle
    until: datetime | None = None  # the next try, for a postponed mailbox

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "level": self.level,
            "words": self.words,
            "reason": self.reason,
            "details": self.details,
            "until": self.until.isoformat() if self.until else None,
        }


# A plain sentence per error code the connectors and the cycle record.
REASONS: dict[str, str] = {
    "ErrorServerBusy": "Exchange is busy and asked us to wait.",
    "RateLimitError": "The server limits how often we may call and asked us to wait.",
    "mailbox_request_budget": "The mailbox used the requests Microsoft 365 allows an "
    "application in 10 minutes; the sync goes on when they are counted out.",
    "mail_server_unavailable": "The mail server is not available right now.",
    "connection_refused": "The mail server refused the connection: it is down or not "
    "listening at this address.",
    "dns_failure": "The mail server's name could not be found (DNS).",
    "tls_failure": "A secure (TLS) connection to the mail server failed (certificate?).",
    "network_error": "The mail server could not be reached.",
    "timeout": "The mail server took too long to answer.",
    "connection_dropped": "The connection to the mail server was cut.",
    "tls_unavailable": "A secure (TLS) connection to the mail server could not be made.",
    "server_error": "The mail server reported an error of its own.",
    "protocol_error": "The mail server's answer could not be read.",
    "mail_server_refused": "The mail server refused what we asked.",
    "missing_credentials": "No user name or password is stored for this mailbox.",
    "undecryptable_credentials": "The stored password cannot be decrypted with this "
    "installation's keys; save it again.",
    "no_profile": "No email server profile is chosen for this mailbox.",
    "profile_inactive": "The email server profile is turned off.",
    "no_server_location": "The email server profile has no server address.",
    "oauth_not_supported": "The profile's sign-in method is not supported by this server.",
    "no_autodiscover_domain": "The server address could not be found from the email address.",
    "autodiscover_domain_mismatch": "Autodiscover pointed to a server of another domain.",
    "ErrorFolderNotFound": "A folder this mailbox syncs no longer exists.",
    "folder_not_found": "A folder this mailbox syncs no longer exists.",
    "internal_error": "An error in crmsync itself; administrators are alerted.",
    "database_unavailable": "The CRM's database connection was lost; retried shortly.",
}

# Words per kind: (key, level, words without the time, the sentence when no code is known).
KINDS: dict[str, tuple[str, str, str, str]] = {
    ErrorKind.THROTTLED: ("postponed", "warning", "Server busy", "The server asked us to wait."),
    ErrorKind.NETWORK: (
        "postponed",
        "warning",
        "Server not reachable",
        "The mail server could not be reached.",
    ),
    ErrorKind.SERVER: ("postponed", "warning", "Server error", "The mail server failed."),
    ErrorKind.PROTOCOL: (
        "postponed",
        "warning",
        "Unreadable server answer",
        "The mail server's answer could not be read.",
    ),
    ErrorKind.MAILBOX_NOT_FOUND: (
        "failing",
        "error",
        "Mailbox not found on the server",
        "The server has no mailbox with this address; check the address.",
    ),
    ErrorKind.CONFIGURATION: (
        "failing",
        "error",
        "Settings cannot work",
        "The mailbox or its server profile is set up in a way that cannot work.",
    ),
    ErrorKind.REFUSED: (
        "failing",
        "warning",
        "Server refused an item",
        "The mail server refused one item or folder; the others go on.",
    ),
    ErrorKind.DATABASE: (
        "postponed",
        "warning",
        "CRM database not reachable",
        "The CRM's database connection was lost; retried shortly.",
    ),
    ErrorKind.INTERNAL: (
        "failing",
        "error",
        "Failing",
        "An error in crmsync itself; administrators are alerted.",
    ),
}


def clock(moment: datetime, now: datetime | None = None) -> str:
    """ "14:05" today, else "3 Dec 14:05", in the active time zone."""
    local = timezone.localtime(moment)
    today = timezone.localtime(now or timezone.now()).date()
    if local.date() == today:
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %H:%M')}"


def _per_mailbox_credentials(profile: EmailServerProfile) -> bool:
    per_mailbox = EmailServerProfile.CredentialRetrieval.PER_MAILBOX
    return per_mailbox in (
        profile.incoming_credential_retrieval,
        profile.outgoing_credential_retrieval,
    )


def _setup(mailbox: Mailbox) -> MailboxStatus | None:
    """What keeps the mailbox from syncing before any server is asked."""
    if not mailbox.is_active:
        return MailboxStatus("turned_off", "warning", "Turned off")
    approved = mailbox.approval_status == Mailbox.ApprovalStatus.APPROVED
    if mailbox.approval_status == Mailbox.ApprovalStatus.PENDING or (
        approved and mailbox.email_address != mailbox.approved_email_address
    ):
        return MailboxStatus(
            "waiting_for_approval",
            "warning",
            "Waiting for approval",
            "An administrator must approve this email address; nothing syncs until then.",
        )
    if mailbox.approval_status == Mailbox.ApprovalStatus.REJECTED:
        return MailboxStatus(
            "rejected",
            "error",
            "Address rejected",
            "An administrator rejected this email address.",
        )
    if mailbox.profile is None:
        return MailboxStatus(
            "no_server", "warning", "No email server set up", REASONS["no_profile"]
        )
    if not mailbox.profile.is_active:
        return MailboxStatus(
            "server_off", "warning", "Email server profile turned off", REASONS["profile_inactive"]
        )
    return None


def _postponed_until(mailbox: Mailbox, now: datetime) -> datetime | None:
    moments = [channel.postponed_until(mailbox) for channel in channels.CHANNELS]
    future = [moment for moment in moments if moment is not None and moment > now]
    return max(future) if future else None


def status_of(mailbox: Mailbox, now: datetime | None = None) -> MailboxStatus:
    """The mailbox's status; the most important fact wins."""
    now = now or timezone.now()
    setup = _setup(mailbox)
    if setup is not None:
        return setup
    kind = mailbox.last_error_kind
    details = mailbox.last_error_text
    if kind == ErrorKind.AUTHENTICATION:
        assert mailbox.profile is not None  # _setup answered otherwise
        if _per_mailbox_credentials(mailbox.profile):
            words = "Wrong password — save the new one"
            reason = "The server refused the user name or password stored for this mailbox."
        else:
            words = "Sign-in refused — an administrator must fix the server profile"
            reason = "The server refused the service account of the email server profile."
        return MailboxStatus("failing", "error", words, reason, details)
    if kind in KINDS:
        key, level, words, fallback = KINDS[kind]
        reason = REASONS.get(mailbox.last_error_code, fallback)
        if key == "postponed":
            until = _postponed_until(mailbox, now)
            when = f"retrying at {clock(until, now)}" if until else "retrying soon"
            return MailboxStatus(key, level, f"{words}, {when}", reason, details, until)
        # Since the first failure after the last success, not the latest retry's.
        if mailbox.failing_since is not None:
            words = f"{words} since {clock(mailbox.failing_since, now)}"
        return MailboxStatus(key, level, words, reason, details)
    configured = channels.configured(mailbox)
    statuses = [channel.status(mailbox) for channel in configured]
    if Mailbox.ChannelStatus.FAILURE in statuses:
        reason = REASONS.get(mailbox.last_error_code, "The last synchronization failed.")
        return MailboxStatus("failing", "error", "Failing", reason, details)
    until = _postponed_until(mailbox, now)
    if until is not None:
        return MailboxStatus(
            "postponed",
            "warning",
            f"Postponed, retrying at {clock(until, now)}",
            "Errors repeated: the next try waits a little.",
            details,
            until,
        )
    if not configured:
        return MailboxStatus("nothing_to_sync", "info", "Nothing to synchronize")
    if all(channel.processed_at(mailbox) is None for channel in configured):
        return MailboxStatus("not_synced", "info", "Not synchronized yet")
    return MailboxStatus("working", "ok", "Working")
