"""Filing incoming messages for one mailbox: the heart of incoming email.

`MailFiler.file_many(items)` files a fetched batch: it parses each message, applies the
"received after" cut-off and the forward mailbox rules, detects duplicates by Message-ID,
correlates, evaluates relevance, and creates the Email with its parties and attachments,
recording a ProcessedMessage so that the same server message is never filed twice.

A batch is one transaction: the Message-IDs of the batch are locked together (PostgreSQL),
looked up together, and the new rows are written with one bulk INSERT per table
(`mailboxes.mail.batch`). If writing the batch fails, its messages are filed again one by one
in transactions of their own, so one bad message cannot hold back the others.

It never loses a message: whatever cannot be filed is kept as an Email holding the raw MIME
and the error, with an alert on the mailbox. Only when even that fails does it raise, and
then nothing of that message is recorded, so the next cycle tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from activities.models import ActivityParty, Email
from mailboxes.mail.batch import FilingBatch, PlannedEmail, StoredFiles
from mailboxes.mail.correlation import correlate, lookup_keys
from mailboxes.mail.entries import (
    Entry,
    FilingOutcome,
    MessageSource,
    Target,
    UnknownForwarder,
    party_roles,
    raw_file_name,
    received_after,
)
from mailboxes.mail.message_ids import LOOKUP_CHUNK, first_emails, lock_message_ids
from mailboxes.mail.mime import ParsedMessage, parse_message, synthetic_message_id
from mailboxes.mail.new_email import kept_raw_email, plan_email
from mailboxes.mail.parties import PartyResolver, Resolution
from mailboxes.mail.reasons import (
    SAME_BATCH,
    duplicate_reason,
    filed_reason,
    irrelevant_reason,
    too_old_reason,
)
from mailboxes.mail.relevance import is_relevant
from mailboxes.mail.targets import Forwarders, own_target
from mailboxes.mail.text import clean
from mailboxes.mail.tracking_rules import set_regarding
from mailboxes.models import Alert, Mailbox, ProcessedMessage

logger = logging.getLogger(__name__)

Outcome = ProcessedMessage.Outcome


class MailFiler:
    """Files messages for one mailbox during one cycle (party lookups are cached)."""

    def __init__(
        self, mailbox: Mailbox, *, now: datetime | None = None, track_all: bool = False
    ) -> None:
        self.mailbox = mailbox
        # "Track it now": the message is filed whatever the tracking option says, with the
        # rest of the rules (duplicates, correlation, parties, regarding) as usual.
        self.track_all = track_all
        self.now = now or timezone.now()
        self.resolver = PartyResolver(owner_user_id=mailbox.user_id)
        self.cutoff = received_after(mailbox)
        self.max_attachment_bytes = settings.CRMSYNC_MAX_ATTACHMENT_BYTES
        # Called before each batch: the cycle's claim heartbeat (it throttles itself).
        self.heartbeat: Callable[[], None] | None = None
        self.forwarders = Forwarders(mailbox, self.resolver)

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

    def processed_among(
        self, protocol: str, folder_id: str, uids: Sequence[str], uid_validity: int = 0
    ) -> set[str]:
        """Which of `uids` were processed before: looked up by uid, not the whole folder."""
        found: set[str] = set()
        for start in range(0, len(uids), LOOKUP_CHUNK):
            found.update(
                ProcessedMessage.objects.filter(
                    mailbox=self.mailbox,
                    protocol=protocol,
                    folder_id=folder_id,
                    uid_validity=uid_validity,
                    uid__in=uids[start : start + LOOKUP_CHUNK],
                ).values_list("uid", flat=True)
            )
        return found

    def _processed(
        self,
        source: MessageSource,
        outcome: str,
        email: Email | None,
        message: ParsedMessage | None = None,
        reason: str = "",
    ) -> ProcessedMessage | None:
        if not source.protocol:
            return None
        # The caller skipped uids already recorded, and one worker at a time holds the
        # mailbox: a plain INSERT (the unique constraint still guards a replay).
        return ProcessedMessage(
            mailbox=self.mailbox,
            protocol=source.protocol,
            folder_id=source.folder_id,
            uid_validity=source.uid_validity,
            uid=source.uid,
            outcome=outcome,
            email=email,
            sender=clean(message.sender.address, 320) if message and message.sender else "",
            subject=clean(message.subject, 500) if message else "",
            message_id=clean(message.message_id, 998) if message else "",
            reason=clean(reason),
        )

    # --- filing ---------------------------------------------------------------------------
    def file(self, raw: bytes, source: MessageSource | None = None) -> FilingOutcome:
        """File one message (a batch of one)."""
        return self.file_many([(raw, source or MessageSource())])[0]

    def file_many(self, items: Sequence[tuple[bytes, MessageSource]]) -> list[FilingOutcome]:
        """File a fetched batch in one transaction; one outcome per message, in order."""
        if not items:
            return []
        if self.heartbeat is not None:
            self.heartbeat()
        parsed = [parse_message(raw) for raw, _source in items]
        self.resolver.resolve_many(
            a.address
            for message in parsed
            for group in party_roles(message).values()
            for a in group
        )
        if len(items) > 1:
            try:
                return self._file_batch(items, parsed)
            except Exception:
                logger.exception(
                    "mailbox %s: writing a batch of %d messages failed; filing them one by one",
                    self.mailbox.pk,
                    len(items),
                )
        outcomes = []
        for (raw, source), message in zip(items, parsed, strict=True):
            try:
                outcomes.extend(self._file_batch([(raw, source)], [message]))
            except Exception as exc:
                logger.exception(
                    "mailbox %s: filing message %s failed", self.mailbox.pk, source.uid
                )
                with transaction.atomic():
                    outcomes.append(
                        self._keep_raw(raw, message, source, f"could not be filed: {exc}")
                    )
        return outcomes

    def _file_batch(
        self, items: Sequence[tuple[bytes, MessageSource]], parsed: Sequence[ParsedMessage]
    ) -> list[FilingOutcome]:
        batch = FilingBatch()
        try:
            with transaction.atomic():
                entries = [
                    self._prepare(raw, source, message)
                    for (raw, source), message in zip(items, parsed, strict=True)
                ]
                message_ids = sorted({e.message_id for e in entries if e.message_id})
                lock_message_ids(message_ids)
                batch.existing = first_emails(message_ids)
                outcomes = [self._file_entry(entry, batch) for entry in entries]
                batch.flush()
        except BaseException:
            batch.files.delete()
            raise
        return outcomes

    def _prepare(self, raw: bytes, source: MessageSource, parsed: ParsedMessage) -> Entry:
        """Cut-off, who it is for, what is filed and under which Message-ID."""
        entry = Entry(raw, source, parsed)
        received = source.received_at or parsed.date
        if self.cutoff is not None and received is not None and received < self.cutoff:
            entry.too_old = True
            return entry
        try:
            if self.mailbox.is_forward_mailbox:
                entry.target, entry.message, inner_raw = self.forwarders.target(parsed)
                entry.message_raw = inner_raw if inner_raw is not None else raw
                # The forward's own problems (an undecodable outer part) still matter; the
                # forwarded message may be the forward itself, or share its list.
                entry.message.problems = list(
                    dict.fromkeys([*parsed.problems, *entry.message.problems])
                )
            else:
                entry.target, entry.message, entry.message_raw = (
                    own_target(self.mailbox),
                    parsed,
                    raw,
                )
            entry.message_id = entry.message.message_id or synthetic_message_id(
                entry.message_raw, entry.message
            )
        except UnknownForwarder as exc:
            entry.error, entry.error_code = str(exc), "unknown_forwarder"
        except Exception as exc:
            logger.exception("mailbox %s: reading message %s failed", self.mailbox.pk, source.uid)
            entry.error = f"could not be filed: {exc}"
        return entry

    def _file_entry(self, entry: Entry, batch: FilingBatch) -> FilingOutcome:
        if entry.too_old:
            received = entry.source.received_at or entry.parsed.date
            batch.record(
                self._processed(
                    entry.source,
                    Outcome.TOO_OLD,
                    None,
                    entry.parsed,
                    too_old_reason(received, self.cutoff),
                )
            )
            return FilingOutcome(Outcome.TOO_OLD)
        if entry.error or entry.message is None:
            return self._keep_raw(
                entry.raw, entry.parsed, entry.source, entry.error, code=entry.error_code
            )
        keys = lookup_keys(entry.message, conversation_id=entry.source.conversation_id)
        if batch.needs_flush(keys):
            batch.flush()
        stored = len(batch.files)
        try:
            return self._file_message(entry, batch)
        except Exception as exc:
            batch.files.delete(since=stored)
            logger.exception(
                "mailbox %s: filing message %s failed", self.mailbox.pk, entry.source.uid
            )
            return self._keep_raw(
                entry.raw, entry.parsed, entry.source, f"could not be filed: {exc}"
            )

    def _file_message(self, entry: Entry, batch: FilingBatch) -> FilingOutcome:
        target, message, source = entry.target, entry.message, entry.source
        assert target is not None and message is not None
        message_id = entry.message_id

        existing = batch.existing.get(message_id)
        if existing is not None:
            with transaction.atomic():
                self._link(existing, target, source)
            batch.record(
                self._processed(
                    source, Outcome.LINKED, existing, message, duplicate_reason(existing.pk)
                )
            )
            return FilingOutcome(Outcome.LINKED, existing)
        planned = batch.planned.get(message_id)
        if planned is not None:
            self._link_planned(planned, target, source)
            batch.record(
                self._processed(source, Outcome.LINKED, planned.email, message, SAME_BATCH)
            )
            return FilingOutcome(Outcome.LINKED, planned.email)

        correlation = correlate(
            message,
            conversation_id=source.conversation_id,
            own_addresses={target.address, self.mailbox.email_address},
            now=self.now,
            exclude_message_id=message_id,
        )
        addresses = [a.address for group in party_roles(message).values() for a in group]
        resolutions = self.resolver.resolve_many(addresses)
        sender = (
            resolutions.get(message.sender.address, Resolution())
            if message.sender
            else Resolution()
        )
        relevant = is_relevant(
            target.tracking_option,
            correlated=correlation is not None,
            sender=sender,
            in_tracking_folder=source.tracking_folder is not None,
        )
        if not relevant and not self.track_all:
            record = self._processed(
                source,
                Outcome.IRRELEVANT,
                None,
                message,
                irrelevant_reason(target.tracking_option, message, sender),
            )
            if record is not None:
                batch.files.save(record.raw_mime, raw_file_name(), entry.raw)
            batch.record(record)
            return FilingOutcome(Outcome.IRRELEVANT)

        planned = plan_email(
            self.mailbox,
            (message, entry.message_raw, message_id),
            target,
            source,
            correlation,
            resolutions,
            batch.files,
            now=self.now,
            max_attachment_bytes=self.max_attachment_bytes,
        )
        batch.plan(message_id, planned)
        batch.record(
            self._processed(
                source, Outcome.FILED, planned.email, message, filed_reason(source, correlation)
            )
        )
        return FilingOutcome(
            Outcome.FILED,
            planned.email,
            error=planned.email.processing_error,
            correlation=correlation.method if correlation else "",
        )

    def _link(self, existing: Email, target: Target, source: MessageSource) -> None:
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
            set_regarding(existing, source.tracking_folder, self.mailbox)

    def _link_planned(self, planned: PlannedEmail, target: Target, source: MessageSource) -> None:
        """`_link` for an email of this batch that is not written yet."""
        if not planned.has_party(user_id=target.user_id, queue_id=target.queue_id):
            planned.add_party(
                ActivityParty(
                    role=ActivityParty.Role.TO,
                    address=clean(target.address, 320),
                    user_id=target.user_id,
                    queue_id=target.queue_id,
                )
            )
        rule = source.tracking_folder
        if rule is not None and rule.regarding_object_id:
            planned.email.regarding_content_type_id = rule.regarding_content_type_id
            planned.email.regarding_object_id = rule.regarding_object_id

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
        files = StoredFiles()
        try:
            return self._keep_raw_rows(raw, parsed, source, error, code, files)
        except BaseException:
            files.delete()
            raise

    def _keep_raw_rows(
        self,
        raw: bytes,
        parsed: ParsedMessage,
        source: MessageSource,
        error: str,
        code: str,
        files: StoredFiles,
    ) -> FilingOutcome:
        with transaction.atomic():
            email = kept_raw_email(self.mailbox, raw, parsed, source, error, files, now=self.now)
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
            record = self._processed(source, Outcome.FAILED, email, parsed, f"kept raw: {error}")
            if record is not None:
                record.save()
        return FilingOutcome(Outcome.FAILED, email, error=error)
