"""The mailbox fields each server type shows, beyond those every mailbox has: one definition,
read by the self-service form (`web/forms.py`, `web/views.py`) and the admin's mailbox form
(`admin/mailbox_form.py`), as `profiles/forms.py` is for a profile's fields.

- The mailbox's own user name and password: when its profile signs in with each mailbox's
  own, never when the profile signs in as an Entra ID application.
- Appointments, contacts and tasks: on the server types their channel runs on
  (`channels.ACT_SERVER_TYPES`), for a user's mailbox only (a queue is a shared inbox).
- "Process and delete": on POP3 only (IMAP and Exchange keep their mail in folders).
- The folder list (tracking and contact folders): where the protocol lists folders
  (`connectors/registry.py`).
"""

from __future__ import annotations

from mailboxes.channels import ACT_SERVER_TYPES
from mailboxes.connectors.registry import server_types_where
from profiles.models import EmailServerProfile

ServerType = EmailServerProfile.ServerType

CREDENTIALS = frozenset({"username", "password", "clear_password"})
ACT = frozenset({"act_delivery_method", "send_invitations"})
PROCESS_AND_DELETE = frozenset({"process_and_delete"})
SPECIFIC = CREDENTIALS | ACT | PROCESS_AND_DELETE
PROCESS_AND_DELETE_TYPES = (ServerType.POP3_SMTP,)
# README, "Meeting invitations": what Graph cannot write silently is held.
_HELP_TEXT_BY_TYPE: dict[str, dict[str, str]] = {
    ServerType.MICROSOFT_365: {
        "send_invitations": (
            " Microsoft 365 cannot change or delete a meeting already sent without telling "
            "its attendees: while this is off, such changes are held and listed on this page."
        )
    },
}


def help_texts(profile: EmailServerProfile | None) -> dict[str, str]:
    """What the self-service form adds to a field's help on this profile's server type."""
    return _HELP_TEXT_BY_TYPE.get(profile.server_type, {}) if profile is not None else {}


def takes_mailbox_credentials(profile: EmailServerProfile | None) -> bool:
    """Whether the mailbox's own user name and password are used: never when the profile
    signs in as an Entra ID application (Microsoft 365, Exchange Online, OAuth)."""
    if profile is None or profile.uses_app_credentials:
        return False
    per_mailbox = EmailServerProfile.CredentialRetrieval.PER_MAILBOX
    return per_mailbox in (
        profile.incoming_credential_retrieval,
        profile.outgoing_credential_retrieval,
    )


def offers_act(profile: EmailServerProfile | None, *, is_queue: bool) -> bool:
    """Whether appointments, contacts and tasks apply to a mailbox of this owner kind here."""
    return not is_queue and profile is not None and profile.server_type in ACT_SERVER_TYPES


def lists_folders(profile: EmailServerProfile | None) -> bool:
    """Whether the mailbox's folders can be listed (to pick tracking and contact folders)."""
    listed = server_types_where(lambda protocol: protocol.folder_lister)
    return profile is not None and profile.server_type in listed


def fields_shown(profile: EmailServerProfile | None, *, is_queue: bool) -> frozenset[str]:
    """Which of `SPECIFIC` a mailbox of this owner kind on this profile shows (none of them
    without a profile)."""
    shown: set[str] = set()
    if takes_mailbox_credentials(profile):
        shown |= CREDENTIALS
    if offers_act(profile, is_queue=is_queue):
        shown |= ACT
    if profile is not None and profile.server_type in PROCESS_AND_DELETE_TYPES:
        shown |= PROCESS_AND_DELETE
    return frozenset(shown)
