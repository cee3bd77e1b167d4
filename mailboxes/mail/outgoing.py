"""Sending CRM email: pending send → sending → sent / failed, with retries and back-off.

Each email is claimed by the claim protocol of `mailboxes.claims` (`SEND_CLAIM`): one
conditional UPDATE (pending and due, or "sending" with an expired claim) whose row count
tells who won, so two workers never send the same row. The
Message-ID and the tracking token are written to the row before the first attempt and never
change, so a retry carries the same Message-ID; where the server lets us look (EWS: Sent
Items by InternetMessageId; Graph: the CRM email's id in an extended property, in Sent Items
and Drafts), a retry first checks whether the message already went out.

SMTP offers no lookup of its own. With IMAP (an IMAP + SMTP profile) the sender keeps the
sent copy in the IMAP Sent folder, with a receipt that the server's acceptance leaves in the
INBOX (`connectors/smtp_imap.py`), and a retry looks there first. Without IMAP (POP3 + SMTP)
an email whose send may have gone out (a worker died holding it, or the server's answer to
the end of DATA was lost) is not sent again: it becomes "may have been sent" (`UNCERTAIN`)
until a person sends it again (`send_again`) or marks it sent.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from activities.models import Email
from mailboxes.claims import ClaimColumns, new_token
from mailboxes.connectors import PermanentSyncError, SyncError, TransientSyncError
from mailboxes.connectors.mail_base import MailSender, SendOutcomeUnknown, SendStamp
from mailboxes.mail.compose import compose
from mailboxes.mail.correlation import make_tracking_token
from mailboxes.mail.results import OutgoingResult
from mailboxes.mail.text import clean
from mailboxes.models import Mailbox
from mailboxes.sync.crm_signals import make_senders_due

logger = logging.getLogger(__name__)

Status = Email.Status
MAX_BACKOFF = timedelta(hours=6)

# Why an email "may have been sent" (SMTP without IMAP), in the words the pages show.
UNCERTAIN_AFTER_DEATH = (
    "A worker stopped while it was sending this email, and an SMTP server cannot be asked "
    "whether it accepted it: it may have been sent. It is not sent again by itself; check "
    "with a recipient, then send it again or mark it sent."
)
UNCERTAIN_REPLY_LOST = (
    "The connection ended before the SMTP server answered the end of the message: it may "
    "have been sent. It is not sent again by itself; check with a recipient, then send it "
    "again or mark it sent."
)


def send_claim_seconds() -> int:
    return int(settings.CRMSYNC_SEND_CLAIM_SECONDS)


# An email is held while it is sent; a claim older than CRMSYNC_SEND_CLAIM_SECONDS is a dead
# worker's, and the email is sent again.
SEND_CLAIM = ClaimColumns(
    holder="send_claimed_by", since="send_claimed_at", until=None, seconds=send_claim_seconds
)


# What sends for one mailbox during one pass (SMTP, EWS, Graph): see the email seam.
Transport = MailSender


def _mine(mailbox: Mailbox) -> Q:
    mine = Q(mailbox=mailbox)
    if mailbox.user_id is not None:
        mine |= Q(mailbox__isnull=True, owner_user_id=mailbox.user_id)
    else:
        mine |= Q(mailbox__isnull=True, owner_queue_id=mailbox.queue_id)
    return mine & Q(direction=Email.Direction.OUTGOING)


def due_emails(mailbox: Mailbox, now: datetime) -> Q:
    return _mine(mailbox) & (
        Q(status=Status.PENDING_SEND, next_attempt_at__isnull=True)
        | Q(status=Status.PENDING_SEND, next_attempt_at__lte=now)
        | (Q(status=Status.SENDING) & SEND_CLAIM.free_q(now))
    )


def fix_identity(email_row: Email, mailbox: Mailbox) -> None:
    """Give the email its Message-ID and tracking token once, before any attempt."""
    if email_row.message_id and email_row.tracking_token:
        return
    domain = mailbox.email_address.rpartition("@")[2] or "crmsync.invalid"
    message_id = email_row.message_id or f"<crmsync.{email_row.pk}.{uuid.uuid4().hex}@{domain}>"
    token = email_row.tracking_token or make_tracking_token(email_row.pk)
    # Conditional: a concurrent pass that already fixed them wins, and we read theirs.
    Email.objects.filter(pk=email_row.pk, message_id="").update(message_id=message_id)
    Email.objects.filter(pk=email_row.pk, tracking_token="").update(tracking_token=token)
    email_row.refresh_from_db(fields=["message_id", "tracking_token"])


class Claimed(enum.Enum):
    PENDING = "pending"
    # Still "sending" under a dead worker's expired claim: it may have gone out.
    TAKEN_OVER = "taken_over"


def claim(pk: int, mailbox: Mailbox, worker: str, now: datetime) -> Claimed | None:
    """Claim one due email; whether it was waiting, or taken over from a dead worker."""
    # Pending rows hold no claim, so `take` finds them free; "sending" rows only if expired.
    due = Email.objects.filter(due_emails(mailbox, now), pk=pk)
    for status, claimed in (
        (Status.PENDING_SEND, Claimed.PENDING),
        (Status.SENDING, Claimed.TAKEN_OVER),
    ):
        won = SEND_CLAIM.take(
            due.filter(status=status),
            worker,
            now,
            status=Status.SENDING,
            mailbox=mailbox,
            send_attempts=F("send_attempts") + 1,
        )
        if won == 1:
            return claimed
    return None


def next_send_due(mailbox: Mailbox) -> datetime | None:
    """When the first of the mailbox's outgoing emails that waits becomes due: a retry's
    time, or the expiry of a dead worker's claim (None: none waits for a time)."""
    now = timezone.now()
    rows = Email.objects.filter(
        _mine(mailbox), status__in=(Status.PENDING_SEND, Status.SENDING)
    ).values_list("status", "next_attempt_at", "send_claimed_at")
    lapse = timedelta(seconds=send_claim_seconds())
    times = [
        (claimed_at or now) + lapse if status == Status.SENDING else (attempt_at or now)
        for status, attempt_at, claimed_at in rows
    ]
    return min(times, default=None)


def send_again(emails: QuerySet[Email]) -> int:
    """A person's "send again" of emails that may have been sent (or failed): pending now,
    and their sending mailboxes due at the next dispatch."""
    again = Q(direction=Email.Direction.OUTGOING, status__in=(Status.UNCERTAIN, Status.FAILED))
    pks = list(emails.filter(again).values_list("pk", flat=True))
    updated = Email.objects.filter(again, pk__in=pks).update(
        status=Status.PENDING_SEND, next_attempt_at=None, processing_error=""
    )
    make_senders_due(Email.objects.filter(pk__in=pks))
    return updated


def mark_sent(emails: QuerySet[Email]) -> int:
    """A person's word that emails which may have been sent did go out."""
    now = timezone.now()
    return emails.filter(direction=Email.Direction.OUTGOING, status=Status.UNCERTAIN).update(
        status=Status.SENT, sent_at=now, modified_at=now
    )


def send_pending(
    mailbox: Mailbox,
    *,
    sender: Callable[[], Transport],
    worker: str | None = None,
    limit: int = 500,
    heartbeat: Callable[[], None] | None = None,
) -> OutgoingResult:
    """Send this mailbox's due emails through a sender made by `sender` (only when one is
    due). Raises the sender's connection-level errors after putting the email in hand
    back, so the cycle can postpone or stop the mailbox."""
    result = OutgoingResult()
    worker = worker or new_token()
    now = timezone.now()
    candidates = list(
        Email.objects.filter(due_emails(mailbox, now))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return result
    with sender() as transport:
        for pk in candidates:
            if heartbeat is not None:
                heartbeat()
            now = timezone.now()
            claimed = claim(pk, mailbox, worker, now)
            if claimed is None:
                result.claimed_elsewhere += 1
                continue
            email_row = Email.objects.get(pk=pk)
            _send_one(
                email_row,
                mailbox,
                transport,
                worker,
                result,
                taken_over=claimed is Claimed.TAKEN_OVER,
            )
    return result


def _send_one(
    email_row: Email,
    mailbox: Mailbox,
    transport: Transport,
    worker: str,
    result: OutgoingResult,
    *,
    taken_over: bool,
) -> None:
    try:
        fix_identity(email_row, mailbox)
        retried = email_row.send_attempts > 1
        stamp = SendStamp(email_row.pk, email_row.message_id)
        if retried and transport.can_check_sent and transport.already_sent(stamp):
            _finish(email_row, worker, Status.SENT, note="")
            result.found_already_sent += 1
            return
        if taken_over and not transport.can_check_sent:
            _finish(email_row, worker, Status.UNCERTAIN, note=UNCERTAIN_AFTER_DEATH)
            result.uncertain += 1
            return
        message = compose(email_row, mailbox)
        if not message.recipients:
            raise PermanentSyncError(
                "the email has no recipient with an address",
                code="no_recipients",
                affects_mailbox=False,
            )
        refused = transport.send(message)
    except SendOutcomeUnknown as exc:
        if (
            transport.can_check_sent
            and email_row.send_attempts < settings.CRMSYNC_SEND_MAX_ATTEMPTS
        ):
            # The next attempt looks for it before sending.
            _retry_later(email_row, worker, exc, result)
        else:
            _finish(
                email_row, worker, Status.UNCERTAIN, note=f"{UNCERTAIN_REPLY_LOST} {exc.message}"
            )
            result.uncertain += 1
            result.errors.append(exc.message)
        raise
    except TransientSyncError as exc:
        _retry_later(email_row, worker, exc, result)
        # The server is unreachable or busy: stop this pass, the cycle postpones the mailbox.
        raise
    except PermanentSyncError as exc:
        if exc.affects_mailbox:
            # Wrong password or similar: not this email's fault; give it back untouched.
            _release(email_row, worker)
            raise
        _finish(email_row, worker, Status.FAILED, note=exc.message)
        result.failed += 1
        result.errors.append(exc.message)
        return
    except SyncError as exc:
        _retry_later(email_row, worker, exc, result)
        return
    except Exception as exc:
        logger.exception("email %s: sending failed", email_row.pk)
        _retry_later(email_row, worker, exc, result)
        return
    note = ""
    if refused:
        note = "refused by the server for: " + "; ".join(f"{a} ({r})" for a, r in refused.items())
    _finish(email_row, worker, Status.SENT, note=note)
    result.sent += 1


def _finish(email_row: Email, worker: str, status: str, *, note: str) -> None:
    now = timezone.now()
    fields: dict[str, object] = {
        "status": status,
        "next_attempt_at": None,
        "processing_error": clean(note),
        "modified_at": now,
    }
    if status == Status.SENT:
        fields["sent_at"] = now
    updated = SEND_CLAIM.release(_sending(email_row), worker, **fields)
    if not updated:
        logger.warning("email %s: claim lost before it could be marked %s", email_row.pk, status)


def _retry_later(email_row: Email, worker: str, exc: BaseException, result: OutgoingResult) -> None:
    """Counted as to retry (given up after the last attempt), with the error said."""
    _retry_or_fail(email_row, worker, exc)
    result.retry_later += 1
    result.errors.append(exc.message if isinstance(exc, SyncError) else str(exc))


def _retry_or_fail(email_row: Email, worker: str, exc: BaseException) -> None:
    attempts = email_row.send_attempts
    text = clean(f"attempt {attempts}: {exc}")
    if attempts >= settings.CRMSYNC_SEND_MAX_ATTEMPTS:
        _finish(email_row, worker, Status.FAILED, note=f"gave up after {attempts} attempts; {text}")
        return
    delay = timedelta(seconds=settings.CRMSYNC_SEND_RETRY_SECONDS * 2 ** (attempts - 1))
    hint = getattr(exc, "retry_after", None)
    if hint:
        delay = max(delay, timedelta(seconds=float(hint)))
    SEND_CLAIM.release(
        _sending(email_row),
        worker,
        status=Status.PENDING_SEND,
        next_attempt_at=timezone.now() + min(delay, MAX_BACKOFF),
        processing_error=text,
    )


def _release(email_row: Email, worker: str) -> None:
    SEND_CLAIM.release(
        _sending(email_row),
        worker,
        status=Status.PENDING_SEND,
        send_attempts=F("send_attempts") - 1,
    )


def _sending(email_row: Email) -> QuerySet[Email]:
    return Email.objects.filter(pk=email_row.pk, status=Status.SENDING)
