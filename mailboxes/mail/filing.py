"""Filing one incoming message for one mailbox: the heart of incoming email.

`MailFiler.file(raw, source)` parses, applies the "received after" cut-off, the forward
mailbox rules, duplicate detection by Message-ID, correlation, relevance, and creates the
Email with its parties and attachments, recording a ProcessedMessage so that the same server
message is never filed twice. It never loses a message: whatever cannot be filed is kept as
an Email holding the raw MIME and the error, with an alert on the mailbox. Only when even
that fails does it raise, and then nothing is recorded, so the next cycle tries again.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from activities.models import ActivityParty, Attachment, ChangeOrigin, Email
from mailboxes.mail import conf
from mailboxes.mail.correlation import Correlation, correlate, find_tracking_token
from mailboxes.mail.forward import forwarded_content
from mailboxes.mail.mime import Address, ParsedMessage, parse_message, synthetic_message_id
from mailboxes.mail.parties import PartyResolver, Resolution, build_party
from mailboxes.mail.relevance import is_relevant
from mailboxes.mail.text import clean
from mailboxes.models import Alert, Mailbox, MailboxTrackingFolder, ProcessedMessage
from users.models import User

logger = logging.getLogger(__name__)

Outcome = ProcessedMessage.Outcome


@dataclass(frozen=True)
class MessageSource:
    """Where a message came from on the server, and what the server told about it."""

    protocol: str = ""  # ProcessedMessage protocol; "" files without recording (tests, tools)
    folder_id: str = "INBOX"
    uid: str = ""
    uid_validity: int = 0
    received_at: datetime | None = None  # IMAP INTERNALDATE, EWS DateTimeReceived
    conversation_id: str = ""  # EWS ConversationId
    tracking_folder: MailboxTrackingFolder | None = None


@dataclass
class FilingOutcome:
    outcome: str
    email: Email | None = None
    error: str = ""
    correlation: str = ""


@dataclass
class _Target:
    """Who the message is filed for: the mailbox's owner, or a forward's sender."""

    mailbox: Mailbox
    user_id: int | None
    queue_id: int | None
    address: str
    always_relevant: bool = False
    notes: list[str] = field(default_factory=list)


class UnknownForwarder(Exception):
    pass


class MailFiler:
    """Files messages for one mailbox during one cycle (party lookups are cached)."""

    def __init__(self, mailbox: Mailbox, *, now: datetime | None = None) -> None:
        self.mailbox = mailbox
        self.now = now or timezone.now()
        self.resolver = PartyResolver()
        self.cutoff = received_after(mailbox)
        self.max_attachment_bytes = conf.max_attachment_bytes()
        # Called between messages: the cycle's claim heartbeat.
        self.heartbeat: Callable[[], None] | None = None
        self._since_heartbeat = 0

    # --- bookkeeping ----------------------------------------------------------------------
    def processed_uids(self, protocol: str, folder_id: str, uid_validity: int = 0) -> set[str]:
        return set(
            ProcessedMessage.objects.filter(
                mailbox=self.mailbox,
                protocol=protocol,
                folder_id=folder_id,
                uid_validity=uid_validity,
            ).values_list("uid", flat=True)
        )

    def _record(self, source: MessageSource, outcome: str, email: Email | None) -> None:
        if not source.protocol:
            return
        # The caller skipped uids already recorded, and one worker at a time holds the
        # mailbox: a plain INSERT (the unique constraint still guards a replay).
        ProcessedMessage.objects.create(
            mailbox=self.mailbox,
            protocol=source.protocol,
            folder_id=source.folder_id,
            uid_validity=source.uid_validity,
            uid=source.uid,
            outcome=outcome,
            email=email,
        )

    # --- filing ---------------------------------------------------------------------------
    def file_many(self, items: list[tuple[bytes, MessageSource]]) -> list[FilingOutcome]:
        """File a fetched batch: every party of the batch is looked up in one go."""
        parsed = [parse_message(raw) for raw, _source in items]
        self.resolver.resolve_many(
            a.address for message in parsed for group in _roles(message).values() for a in group
        )
        return [
            self.file(raw, source, parsed=message)
            for (raw, source), message in zip(items, parsed, strict=True)
        ]

    def file(
        self,
        raw: bytes,
        source: MessageSource | None = None,
        *,
        parsed: ParsedMessage | None = None,
    ) -> FilingOutcome:
        source = source or MessageSource()
        if self.heartbeat is not None:
            self._since_heartbeat += 1
            if self._since_heartbeat >= 25:
                self._since_heartbeat = 0
                self.heartbeat()
        if parsed is None:
            parsed = parse_message(raw)
        try:
            return self._file_parsed(raw, parsed, source)
        except UnknownForwarder as exc:
            return self._keep_raw(raw, parsed, source, str(exc), code="unknown_forwarder")
        except Exception as exc:
            logger.exception("mailbox %s: filing message %s failed", self.mailbox.pk, source.uid)
            return self._keep_raw(raw, parsed, source, f"could not be filed: {exc}")

    def _file_parsed(
        self, raw: bytes, parsed: ParsedMessage, source: MessageSource
    ) -> FilingOutcome:
        received = source.received_at or parsed.date
        if self.cutoff is not None and received is not None and received < self.cutoff:
            self._record(source, Outcome.TOO_OLD, None)
            return FilingOutcome(Outcome.TOO_OLD)

        target = self._target()
        message, message_raw = parsed, raw
        if self.mailbox.is_forward_mailbox:
            target, message, inner_raw = self._forward_target(parsed)
            if inner_raw is not None:
                message_raw = inner_raw
            # The forward's own problems (an undecodable outer part) still matter.
            message.problems = [*parsed.problems, *message.problems]

        message_id = message.message_id or synthetic_message_id(message_raw, message)
        with transaction.atomic():
            _lock_message_id(message_id)
            existing = Email.objects.filter(message_id=message_id).order_by("pk").first()
            if existing is not None:
                self._link(existing, target, source)
                self._record(source, Outcome.LINKED, existing)
                return FilingOutcome(Outcome.LINKED, existing)

            correlation = correlate(
                message,
                conversation_id=source.conversation_id,
                own_addresses={target.address, self.mailbox.email_address},
                now=self.now,
                exclude_message_id=message_id,
            )
            addresses = [a.address for group in _roles(message).values() for a in group]
            resolutions = self.resolver.resolve_many(addresses)
            sender = (
                resolutions.get(message.sender.address, Resolution())
                if message.sender
                else Resolution()
            )
            relevant = target.always_relevant or is_relevant(
                self.mailbox.tracking_option,
                correlated=correlation is not None,
                sender=sender,
                in_tracking_folder=source.tracking_folder is not None,
            )
            if not relevant:
                self._record(source, Outcome.IRRELEVANT, None)
                return FilingOutcome(Outcome.IRRELEVANT)

            email = self._create(
                message, message_raw, message_id, target, source, correlation, resolutions
            )
            self._record(source, Outcome.FILED, email)
        return FilingOutcome(
            Outcome.FILED,
            email,
            error=email.processing_error,
            correlation=correlation.method if correlation else "",
        )

    def _target(self) -> _Target:
        mailbox = self.mailbox
        return _Target(mailbox, mailbox.user_id, mailbox.queue_id, mailbox.email_address.lower())

    def _forward_target(self, outer: ParsedMessage) -> tuple[_Target, ParsedMessage, bytes | None]:
        forwarder = outer.sender.address if outer.sender else ""
        user_id = self.resolver.resolve(forwarder).user_id if forwarder else None
        user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
        if user is None:
            raise UnknownForwarder(
                f"forwarded by {forwarder or 'an unknown sender'}, who is not a CRM user: "
                "kept here for an administrator"
            )
        own_mailbox = Mailbox.objects.filter(user=user).first()
        message, inner_raw = forwarded_content(outer)
        target = _Target(
            mailbox=own_mailbox or self.mailbox,
            user_id=user.pk,
            queue_id=None,
            address=(own_mailbox.email_address if own_mailbox else user.email).lower(),
            always_relevant=True,
        )
        return target, message, inner_raw

    def _link(self, existing: Email, target: _Target, source: MessageSource) -> None:
        """The same message reached another mailbox: one activity, with both as parties."""
        parties = existing.parties.all()
        if target.user_id is not None:
            present = any(p.user_id == target.user_id for p in parties)
        else:
            present = any(p.queue_id == target.queue_id for p in parties)
        if not present:
            ActivityParty.objects.create(
                email=existing,
                role=ActivityParty.Role.TO,
                address=clean(target.address, 320),
                user_id=target.user_id,
                queue_id=target.queue_id,
            )
        if source.tracking_folder is not None and source.tracking_folder.regarding_object_id:
            _set_regarding(existing, source.tracking_folder, self.mailbox)

    def _create(
        self,
        message: ParsedMessage,
        raw: bytes,
        message_id: str,
        target: _Target,
        source: MessageSource,
        correlation: Correlation | None,
        resolutions: dict[str, Resolution],
    ) -> Email:
        email = Email(
            owner_user_id=target.user_id,
            owner_queue_id=target.queue_id,
            mailbox=target.mailbox,
            direction=Email.Direction.INCOMING,
            status=Email.Status.RECEIVED,
            subject=clean(message.subject, 500),
            message_id=message_id,
            in_reply_to=message.in_reply_to,
            references=" ".join(message.references),
            conversation_id=clean(
                source.conversation_id
                or (correlation.email.conversation_id if correlation else ""),
                512,
            ),
            tracking_token=find_tracking_token(message.subject),
            from_address=message.sender.address if message.sender else "",
            body_text=message.body_text,
            body_html=message.body_html,
            sent_at=message.date,
            received_at=source.received_at or self.now,
            change_origin=ChangeOrigin.SYNC,
            change_origin_mailbox=self.mailbox,
        )
        rule = source.tracking_folder
        if rule is not None and rule.regarding_object_id:
            email.regarding_content_type_id = rule.regarding_content_type_id
            email.regarding_object_id = rule.regarding_object_id
        elif correlation is not None and correlation.email.regarding_object_id:
            email.regarding_content_type_id = correlation.email.regarding_content_type_id
            email.regarding_object_id = correlation.email.regarding_object_id
        if message.problems:
            email.processing_error = clean("; ".join(message.problems))
            email.raw_mime.save(_raw_name(), ContentFile(raw), save=False)
        email.save()

        parties = []
        for role, addresses in _roles(message).items():
            for address in addresses:
                parties.append(
                    build_party(role, address, resolutions.get(address.address) or Resolution())
                )
        owner = Resolution(user_id=target.user_id, queue_id=target.queue_id)
        if not any(
            (p.user_id == owner.user_id if owner.user_id else p.queue_id == owner.queue_id)
            for p in parties
            if p.role != ActivityParty.Role.FROM
        ):
            # Reached the owner through Bcc or a list: the owner is still a recipient.
            parties.append(build_party(ActivityParty.Role.TO, Address(target.address), owner))
        for party in parties:
            party.email = email
        ActivityParty.objects.bulk_create(parties)

        for item in message.attachments:
            attachment = Attachment(
                email=email,
                filename=clean(item.filename, 255) or "attachment",
                content_type=clean(item.content_type, 255),
                size=len(item.payload),
                content_id=item.content_id,
                is_inline=item.is_inline,
                error=item.error,
            )
            if len(item.payload) > self.max_attachment_bytes:
                attachment.error = clean(
                    f"not stored: {len(item.payload)} bytes is over the limit of "
                    f"{self.max_attachment_bytes} bytes (CRMSYNC_MAX_ATTACHMENT_BYTES)"
                )
            else:
                attachment.file.save(attachment.filename, ContentFile(item.payload), save=False)
            attachment.save()
        return email

    # --- last resort ----------------------------------------------------------------------
    def _keep_raw(
        self,
        raw: bytes,
        parsed: ParsedMessage,
        source: MessageSource,
        error: str,
        *,
        code: str = "mail_not_filed",
    ) -> FilingOutcome:
        """File what cannot be filed properly: the raw MIME, the error, an alert."""
        with transaction.atomic():
            email = Email(
                owner_user_id=self.mailbox.user_id,
                owner_queue_id=self.mailbox.queue_id,
                mailbox=self.mailbox,
                direction=Email.Direction.INCOMING,
                status=Email.Status.RECEIVED,
                subject=clean(parsed.subject, 500),
                message_id=parsed.message_id,
                from_address=parsed.sender.address if parsed.sender else "",
                received_at=source.received_at or self.now,
                processing_error=clean(error),
                change_origin=ChangeOrigin.SYNC,
                change_origin_mailbox=self.mailbox,
            )
            email.raw_mime.save(_raw_name(), ContentFile(raw), save=False)
            email.save()
            Alert.objects.create(
                mailbox=self.mailbox,
                severity=Alert.Severity.WARNING,
                code=code,
                message=clean(
                    f"Message {parsed.message_id or source.uid or '(no Message-ID)'} "
                    f"from {parsed.sender.address if parsed.sender else 'unknown sender'}, "
                    f"subject {parsed.subject[:120]!r}: {error}"
                ),
            )
            self._record(source, Outcome.FAILED, email)
        return FilingOutcome(Outcome.FAILED, email, error=error)


def _roles(message: ParsedMessage) -> dict[str, list[Address]]:
    return {
        ActivityParty.Role.FROM: [message.sender] if message.sender else [],
        ActivityParty.Role.TO: message.to,
        ActivityParty.Role.CC: message.cc,
        ActivityParty.Role.BCC: message.bcc,
    }


def _raw_name() -> str:
    return f"{uuid.uuid4().hex}.eml"


def _lock_message_id(message_id: str) -> None:
    """Serialize filing of one Message-ID across workers until the transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: every write transaction is already
    exclusive (BEGIN IMMEDIATE in the settings).
    """
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _set_regarding(email: Email, rule: MailboxTrackingFolder, mailbox: Mailbox) -> None:
    if (
        email.regarding_content_type_id == rule.regarding_content_type_id
        and email.regarding_object_id == rule.regarding_object_id
    ):
        return
    Email.objects.filter(pk=email.pk).update(
        regarding_content_type_id=rule.regarding_content_type_id,
        regarding_object_id=rule.regarding_object_id,
        change_origin=ChangeOrigin.SYNC,
        change_origin_mailbox=mailbox,
        modified_at=timezone.now(),
    )


def apply_tracking_rules(mailbox: Mailbox) -> int:
    """Set again the regarding record of every email filed from a tracking folder.

    A person may have changed it in the CRM; the folder rule wins at each sync. Returns how
    many emails changed.
    """
    changed = 0
    for rule in mailbox.tracking_folders.exclude(regarding_object_id=None):
        folder_ids = {rule.exchange_folder_id, rule.exchange_folder_name} - {""}
        stale = (
            Email.objects.filter(
                processed_messages__mailbox=mailbox,
                processed_messages__folder_id__in=folder_ids,
            )
            .exclude(
                regarding_content_type_id=rule.regarding_content_type_id,
                regarding_object_id=rule.regarding_object_id,
            )
            .values_list("pk", flat=True)
        )
        changed += Email.objects.filter(pk__in=list(stale)).update(
            regarding_content_type_id=rule.regarding_content_type_id,
            regarding_object_id=rule.regarding_object_id,
            change_origin=ChangeOrigin.SYNC,
            change_origin_mailbox=mailbox,
            modified_at=timezone.now(),
        )
    return changed


def received_after(mailbox: Mailbox) -> datetime | None:
    """The cut-off: the mailbox's own date, else its profile's."""
    if mailbox.process_emails_received_after is not None:
        return mailbox.process_emails_received_after
    profile = mailbox.profile
    return profile.process_emails_received_after if profile is not None else None
