"""Whether an incoming message is tracked, by the mailbox's tracking option."""

from __future__ import annotations

from mailboxes.mail.parties import Resolution
from mailboxes.models import Mailbox

TrackingOption = Mailbox.TrackingOption


def is_relevant(
    option: str,
    *,
    correlated: bool,
    sender: Resolution,
    in_tracking_folder: bool = False,
) -> bool:
    """A message filed into a tracking folder, or one that answers a CRM email, is always
    tracked; beyond that the option decides."""
    if in_tracking_folder or correlated:
        return True
    if option == TrackingOption.ALL:
        return True
    if option == TrackingOption.RESPONSES_TO_CRM_EMAIL:
        return False
    if option == TrackingOption.FROM_CRM_RECORDS:
        return sender.is_crm_record
    if option == TrackingOption.FROM_ANY_EMAIL_ENABLED_RECORD:
        return sender.is_email_enabled_record
    return False
