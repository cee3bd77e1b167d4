"""What one batch of incoming mail writes, gathered so that it takes a few statements.

The filer decides message by message inside one transaction per batch. New emails, their
parties and attachments, and the ProcessedMessage rows wait here and are written by
`crmsync.inserts.insert_new` (a few multi-row INSERTs per table) when the batch ends, or
earlier when a later message of the batch could correlate with one not written yet
(`needs_flush`). Message-IDs filed in the batch
stay known, so a second copy of a message links to the first instead of filing it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile

from activities.models import ActivityParty, Attachment, Email
from crmsync.inserts import insert_new
from mailboxes.mail.correlation import email_keys
from mailboxes.models import ProcessedMessage

logger = logging.getLogger(__name__)


@dataclass
class PlannedEmail:
    """A new email of the batch, not written yet (its files are already stored)."""

    email: Email
    parties: list[ActivityParty] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def has_party(self, *, user_id: int | None, queue_id: int | None) -> bool:
        if user_id is not None:
            return any(p.user_id == user_id for p in self.parties)
        return any(p.queue_id == queue_id for p in self.parties)

    def add_party(self, party: ActivityParty) -> None:
        party.email = self.email
        self.parties.append(party)


class StoredFiles:
    """Files written to storage ahead of their rows, removed again if the rows are not."""

    def __init__(self) -> None:
        self._stored: list[tuple[Storage, str]] = []

    def __len__(self) -> int:
        return len(self._stored)

    def save(self, file: FieldFile, name: str, content: bytes) -> None:
        file.save(name, ContentFile(content), save=False)
        self._stored.append((file.storage, file.name or name))

    def delete(self, *, since: int = 0) -> None:
        """Remove the files saved since position `since`."""
        for storage, name in self._stored[since:]:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("could not remove %s after a failed filing", name, exc_info=True)
        del self._stored[since:]


class FilingBatch:
    def __init__(self) -> None:
        # Message-ID -> the first email with it that is in the database.
        self.existing: dict[str, Email] = {}
        # Message-ID -> a new email of this batch, written at the next flush.
        self.planned: dict[str, PlannedEmail] = {}
        self.records: list[ProcessedMessage] = []
        self._planned_keys: set[str] = set()
        # Attachments and raw MIME of the planned emails: removed again if it rolls back.
        self.files = StoredFiles()

    def plan(self, message_id: str, planned: PlannedEmail) -> None:
        for party in planned.parties:
            party.email = planned.email
        for attachment in planned.attachments:
            attachment.email = planned.email
        self.planned[message_id] = planned
        self._planned_keys |= email_keys(planned.email)

    def record(self, record: ProcessedMessage | None) -> None:
        if record is not None:
            self.records.append(record)

    def needs_flush(self, lookup_keys: Iterable[str]) -> bool:
        """Whether correlating a message could look for an email that is only planned."""
        return bool(self.planned) and not self._planned_keys.isdisjoint(lookup_keys)

    def flush(self) -> None:
        """Write what is planned: emails first (their ids), then what points at them."""
        if self.planned:
            planned = list(self.planned.values())
            insert_new([p.email for p in planned])
            insert_new([party for p in planned for party in p.parties])
            insert_new([a for p in planned for a in p.attachments])
            for message_id, item in self.planned.items():
                self.existing.setdefault(message_id, item.email)
            self.planned.clear()
            self._planned_keys.clear()
        if self.records:
            insert_new(self.records)
            self.records.clear()
