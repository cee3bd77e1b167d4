""" "Track it now" on a worker: a message left out as irrelevant is filed from its kept raw
MIME, with the rules the filer applies to a message from a known sender.

Filing a large message (its attachments stored, its parties resolved) can take seconds, so
the page only asks (`request_tracking`, which refuses at once what cannot be tracked) and a
worker files it (`track_requested`); the mailbox page shows the result when it is done, as
it does for "Sync now". The record says where the request stands: `track_requested_at`,
then `track_finished_at` and, when it could not be tracked, `track_error`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailboxes.mail.filing import MailFiler, MessageSource
from mailboxes.models import Mailbox, ProcessedMessage
from users.models import User

Outcome = ProcessedMessage.Outcome
FILED_FIELDS = ("outcome", "email", "reason", "raw_mime")


class CannotTrack(Exception):
    pass


def not_kept() -> str:
    return (
        "The message itself is no longer kept (messages left out are kept "
        f"{settings.CRMSYNC_PROCESSED_REASON_DAYS} days), so it cannot be tracked from here: "
        "move it into a tracked folder, or forward it to the forward mailbox."
    )


def _refusal(record: ProcessedMessage | None) -> str:
    if record is None:
        return "This message is not among the mailbox's processed messages."
    if record.outcome in (Outcome.FILED, Outcome.LINKED):
        return "This message is tracked already."
    if record.outcome != Outcome.IRRELEVANT:
        return f"This message was not left out as irrelevant ({record.get_outcome_display()})."
    if not record.raw_mime:
        return not_kept()
    return ""


def request_tracking(record_id: int, mailbox: Mailbox) -> tuple[ProcessedMessage, bool]:
    """Mark the message as waiting for a worker; False when it waits already (the worker
    asked before files it once). Raises CannotTrack with a sentence for the person."""
    with transaction.atomic():
        record = (
            ProcessedMessage.objects.select_for_update()
            .filter(pk=record_id, mailbox=mailbox)
            .first()
        )
        refused = _refusal(record)
        if refused:
            raise CannotTrack(refused)
        assert record is not None
        if record.track_requested_at and not record.track_finished_at:
            return record, False
        record.track_requested_at = timezone.now()
        record.track_finished_at = None
        record.track_error = ""
        record.save(update_fields=["track_requested_at", "track_finished_at", "track_error"])
    return record, True


def track_requested(record_id: int, user_id: int | None) -> str:
    """The worker's part: file the message, or record why it could not be."""
    record = ProcessedMessage.objects.select_related("mailbox").filter(pk=record_id).first()
    if record is None:
        return "gone"
    user = User.objects.filter(pk=user_id).first() if user_id else None
    try:
        track_now(record.pk, record.mailbox, user)
    except CannotTrack as exc:
        ProcessedMessage.objects.filter(pk=record.pk).update(
            track_error=str(exc)[:2000], track_finished_at=timezone.now()
        )
        return "refused"
    return "tracked"


def track_now(record_id: int, mailbox: Mailbox, user: User | None) -> ProcessedMessage:
    """File a message that was left out as irrelevant, as if its sender were known.

    Raises CannotTrack with a sentence for the person when the message is tracked already or
    its raw MIME is no longer kept.
    """
    with transaction.atomic():
        locked = ProcessedMessage.objects.select_for_update()
        record = locked.filter(pk=record_id, mailbox=mailbox).first()
        refused = _refusal(record)
        if refused:
            raise CannotTrack(refused)
        assert record is not None
        try:
            with record.raw_mime.open("rb") as stored:
                raw = stored.read()
        except OSError:
            raise CannotTrack(not_kept()) from None
        outcome = MailFiler(mailbox, track_all=True).file(
            raw, MessageSource(received_at=record.processed_at)
        )
        by = user.get_username() if user is not None else "a user no longer known"
        record.outcome = outcome.outcome
        record.email = outcome.email
        email = outcome.email.pk if outcome.email else None
        said: dict[str, str] = {
            Outcome.FILED: f"filed as email {email}",
            Outcome.LINKED: f"linked to email {email}, which has the same Message-ID",
            Outcome.FAILED: f"kept raw as email {email}: {outcome.error}",
        }
        words = said.get(outcome.outcome, outcome.outcome)
        record.reason = (
            f"tracked on request by {by} on {timezone.now():%Y-%m-%d %H:%M} UTC: {words}. "
            f"Before: {record.reason}"
        )[:10_000]
        stored_name = record.raw_mime.name or ""
        record.raw_mime = ""
        record.track_finished_at = timezone.now()
        record.track_error = ""
        record.save(update_fields=[*FILED_FIELDS, "track_finished_at", "track_error"])
        storage = ProcessedMessage._meta.get_field("raw_mime").storage
        transaction.on_commit(lambda: storage.delete(stored_name))
    return record
