"""Why the filer did what it did with a message, in words: kept on its `ProcessedMessage`
and shown on the mailbox page's "why was this not tracked?"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from mailboxes.mail.correlation import Correlation
from mailboxes.mail.entries import MessageSource
from mailboxes.mail.mime import ParsedMessage
from mailboxes.mail.parties import Resolution
from mailboxes.models import Mailbox, ProcessedMessage

TrackingOption = Mailbox.TrackingOption

SAME_BATCH = "same Message-ID as an email filed in the same batch: this mailbox is added to it"

_CORRELATION_WORDS = {
    "tracking_token": "by the tracking token in its subject",
    "in_reply_to": "as a reply (In-Reply-To)",
    "references": "by its References header",
    "conversation_id": "by its Exchange conversation",
    "smart_match": "by smart matching (subject and recipients)",
}


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "(unknown)"


def too_old_reason(received: datetime | None, cutoff: datetime | None) -> str:
    return (
        f"received {_utc(received)}, before the cut-off {_utc(cutoff)} "
        "(the mailbox's or its profile's “process email received after”)"
    )


def duplicate_reason(email_id: int | None) -> str:
    return f"duplicate of email {email_id} (same Message-ID): this mailbox is added to it"


def filed_reason(source: MessageSource, correlation: Correlation | None) -> str:
    """Why a message was filed, in words: the tracking folder or the email it answers."""
    rule = source.tracking_folder
    if rule is not None:
        where = f"moved to the tracking folder “{rule.exchange_folder_name}”"
        return f"filed: {where}" + (", regarding its record" if rule.regarding_object_id else "")
    if correlation is not None:
        how = _CORRELATION_WORDS.get(correlation.method, correlation.method)
        regarding = correlation.email.regarding_object_id
        return f"filed with email {correlation.email.pk} {how}" + (
            ", regarding the same record" if regarding else ""
        )
    return "filed: the tracking option accepts it"


def irrelevant_reason(option: str, message: ParsedMessage, sender: Resolution) -> str:
    """Why the tracking option left a message out, in the words of the option."""
    who = message.sender.address if message.sender else "an unknown sender"
    if option == TrackingOption.RESPONSES_TO_CRM_EMAIL:
        return (
            "not relevant: it answers no email from the CRM, and the mailbox tracks only "
            "responses to CRM email"
        )
    if option == TrackingOption.FROM_CRM_RECORDS:
        found = f" (it is a CRM {sender.kind})" if sender.kind else ""
        return (
            f"not relevant: the sender {who} is not a CRM contact, account or user{found}, "
            "and the mailbox tracks email from contacts, accounts and users"
        )
    if option == TrackingOption.FROM_ANY_EMAIL_ENABLED_RECORD:
        return (
            f"not relevant: the sender {who} is no CRM record with an email address, and "
            "the mailbox tracks email from email-enabled records"
        )
    return f"not relevant for the tracking option “{option}”"


def forget_old_reasons(now: datetime | None = None) -> int:
    """Blank the search fields and remove the kept MIME of records past the retention.

    The rows stay: they keep the same server message from being filed twice.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.CRMSYNC_PROCESSED_REASON_DAYS)
    old = ProcessedMessage.objects.filter(processed_at__lt=cutoff).exclude(
        sender="", subject="", message_id="", reason="", raw_mime=""
    )
    storage = ProcessedMessage._meta.get_field("raw_mime").storage
    forgotten = 0
    for pk, name in old.values_list("pk", "raw_mime").iterator():
        updated = ProcessedMessage.objects.filter(pk=pk).update(
            sender="", subject="", message_id="", reason="", raw_mime=""
        )
        if updated and name:
            storage.delete(name)
        forgotten += updated
    return forgotten
