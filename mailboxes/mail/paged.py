"""Pulling new mail from a folder-paging protocol (EWS, Graph) into the filer.

The Inbox, each tracking folder and Sent Items are paged from their stored cursors
(FolderSyncState); the MIME of new messages is fetched in batches and each message is
filed once (ProcessedMessage keyed by protocol, folder and message id). A message that
left a folder stops being re-tracked there. A cursor the server lost starts the folder
again: ids filed before are skipped, nothing doubles. A message that cannot be filed is
kept raw with an error, and moved to an "Undeliverable" folder under the Inbox when the
profile says so. Mail found in Sent Items is filed as outgoing (sent).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.utils import timezone

from mailboxes.connectors.mail_base import (
    CursorLostError,
    IncomingMessage,
    MailFolder,
    MailFolderSource,
    MailPage,
    MessageRef,
)
from mailboxes.mail.filing import MailFiler, MessageSource, Outcome
from mailboxes.mail.results import IncomingResult
from mailboxes.models import (
    FolderSyncState,
    ItemType,
    Mailbox,
    MailboxTrackingFolder,
    ProcessedMessage,
)

logger = logging.getLogger(__name__)


def pull_folders(
    mailbox: Mailbox, filer: MailFiler, source: MailFolderSource, *, max_messages: int
) -> IncomingResult:
    """File the new mail of the Inbox, the tracking folders and Sent Items."""
    result = IncomingResult()
    folders: list[tuple[MailFolder, MailboxTrackingFolder | None, bool]] = [
        (source.inbox(), None, False)
    ]
    for tracking in mailbox.tracking_folders.all():
        folder = source.folder(tracking.exchange_folder_id, tracking.exchange_folder_name)
        folders.append((folder, tracking, False))
    folders.append((source.sent_items(), None, True))
    for folder, rule, sent in folders:
        if result.fetched >= max_messages:
            result.more = True
            break
        _FolderPull(mailbox, filer, source, folder, rule, sent, result).run(max_messages)
    return result


class _FolderPull:
    def __init__(
        self,
        mailbox: Mailbox,
        filer: MailFiler,
        source: MailFolderSource,
        folder: MailFolder,
        rule: MailboxTrackingFolder | None,
        sent: bool,
        result: IncomingResult,
    ) -> None:
        self.mailbox, self.filer, self.source = mailbox, filer, source
        self.folder, self.rule, self.sent, self.result = folder, rule, sent, result
        self.state, _ = FolderSyncState.objects.get_or_create(
            mailbox=mailbox,
            protocol=source.protocol,
            folder_id=folder.id,
            defaults={"item_type": ItemType.EMAIL, "folder_name": folder.name[:255]},
        )

    def run(self, max_messages: int) -> None:
        try:
            self._pages(max_messages)
        except CursorLostError:
            # Start the folder again: messages already filed are skipped, nothing doubles.
            logger.warning(
                "mailbox %s: cursor of folder %s lost; resyncing", self.mailbox.pk, self.folder.id
            )
            self.state.sync_state = ""
            self.state.save(update_fields=["sync_state", "modified_at"])
            self._pages(max_messages)

    def _pages(self, max_messages: int) -> None:
        pages = self.source.pages(self.folder, self.state.sync_state or None)
        try:
            for page in pages:
                self._apply(page)
                if page.complete:
                    return
                if self.result.fetched >= max_messages:
                    self.result.more = True
                    return
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _apply(self, page: MailPage) -> None:
        if page.removed:
            # Moved out or deleted: a tracking rule no longer applies to it.
            ProcessedMessage.objects.filter(
                mailbox=self.mailbox,
                protocol=self.source.protocol,
                folder_id=self.folder.id,
                uid__in=page.removed,
            ).update(folder_id=f"{self.folder.id}#removed")
        uids = [ref.uid for ref in page.new]
        done = self.filer.processed_among(self.source.protocol, self.folder.id, uids)
        pending = [ref for ref in page.new if ref.uid not in done]
        size = settings.CRMSYNC_INCOMING_BATCH
        for start in range(0, len(pending), size):
            self._file_batch(pending[start : start + size])
        state = self.state
        state.sync_state = page.cursor
        state.last_synced_at = timezone.now()
        state.is_initial_sync_complete = state.is_initial_sync_complete or page.complete
        fields = ["sync_state", "last_synced_at", "is_initial_sync_complete", "modified_at"]
        state.save(update_fields=fields)

    def _file_batch(self, refs: Sequence[MessageRef]) -> None:
        messages = self.source.fetch(self.folder, refs)
        sources = [(message.raw, self._source_of(message)) for message in messages]
        result = self.result
        result.fetched += len(sources)
        undeliverable: list[IncomingMessage] = []
        for message, outcome in zip(messages, self.filer.file_many(sources), strict=True):
            result.count(outcome)
            if outcome.outcome == Outcome.FAILED:
                undeliverable.append(message)
        profile = self.mailbox.profile
        if undeliverable and profile is not None and profile.move_undelivered_emails:
            self.source.move_to_undeliverable(undeliverable)
            result.moved_to_undeliverable += len(undeliverable)

    def _source_of(self, message: IncomingMessage) -> MessageSource:
        return MessageSource(
            protocol=self.source.protocol,
            folder_id=self.folder.id,
            uid=message.uid,
            received_at=message.received_at,
            conversation_id=message.conversation_id,
            tracking_folder=self.rule,
            sent=self.sent,
        )
