"""Connection settings for a mailbox's POP3, IMAP and SMTP servers, from its profile."""

from __future__ import annotations

from typing import TypeVar

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.imap import ImapSettings
from mailboxes.connectors.pop3 import Pop3Settings
from mailboxes.connectors.smtp import SmtpSettings
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile

Retrieval = EmailServerProfile.CredentialRetrieval
_Incoming = TypeVar("_Incoming", Pop3Settings, ImapSettings)


def profile_of(mailbox: Mailbox) -> EmailServerProfile:
    if mailbox.profile is None:
        raise PermanentSyncError("the mailbox has no email server profile", code="no_profile")
    return mailbox.profile


def incoming_credentials(mailbox: Mailbox) -> tuple[str, str]:
    profile = profile_of(mailbox)
    if profile.incoming_credential_retrieval == Retrieval.PROFILE:
        return profile.incoming_username, profile.incoming_password
    return mailbox.username or mailbox.email_address, mailbox.password


def outgoing_credentials(mailbox: Mailbox) -> tuple[str, str]:
    profile = profile_of(mailbox)
    if profile.use_same_settings_for_outgoing:
        return incoming_credentials(mailbox)
    if profile.outgoing_credential_retrieval == Retrieval.PROFILE:
        return profile.outgoing_username, profile.outgoing_password
    return mailbox.username or mailbox.email_address, mailbox.password


def _timeout(profile: EmailServerProfile) -> float:
    return max(1.0, profile.connection_timeout_ms / 1000)


def _incoming_host(profile: EmailServerProfile) -> str:
    if not profile.incoming_server_location:
        raise PermanentSyncError(
            "the profile has no incoming server location", code="no_server_location"
        )
    return profile.incoming_server_location


def _incoming_settings(mailbox: Mailbox, settings_class: type[_Incoming]) -> _Incoming:
    profile = profile_of(mailbox)
    username, password = incoming_credentials(mailbox)
    return settings_class(
        host=_incoming_host(profile),
        port=profile.incoming_port,
        username=username,
        password=password,
        use_ssl=profile.incoming_use_ssl,
        timeout=_timeout(profile),
    )


def pop3_settings(mailbox: Mailbox) -> Pop3Settings:
    return _incoming_settings(mailbox, Pop3Settings)


def imap_settings(mailbox: Mailbox) -> ImapSettings:
    return _incoming_settings(mailbox, ImapSettings)


def smtp_settings(mailbox: Mailbox) -> SmtpSettings:
    """SMTP: implicit TLS on port 465, STARTTLS when SSL is on otherwise, plaintext when off."""
    profile = profile_of(mailbox)
    username, password = outgoing_credentials(mailbox)
    host = profile.outgoing_server_location or profile.incoming_server_location
    if not host:
        raise PermanentSyncError(
            "the profile has no outgoing server location", code="no_server_location"
        )
    port = profile.outgoing_port
    if not profile.outgoing_use_ssl:
        security = "none"
    elif port == 465:
        security = "ssl"
    else:
        security = "starttls"
    return SmtpSettings(
        host=host,
        port=port,
        username=username,
        password=password,
        security=security,
        timeout=_timeout(profile),
    )
