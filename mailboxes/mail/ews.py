"""Email over Exchange Web Services, through the sync engine's seam (an exchangelib Account).

Incoming: for the Inbox and each tracking folder, SyncFolderItems pages from the stored sync
state (FolderSyncState), then GetItem for the MIME of the new items, in batches; each item is
filed once (ProcessedMessage keyed by item id). Items moved out of a tracking folder stop
being re-tracked. A message that cannot be filed is kept raw with an error, and moved to an
"Undeliverable" folder under the Inbox when the profile says so.

Outgoing: CreateItem with the composed MIME and SendAndSaveCopy (a copy lands in Sent
Items). Before any retry, Sent Items is searched for the email's fixed Message-ID, so a
worker killed after Exchange accepted the message does not send it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from django.conf import settings
from django.utils import timezone

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.ews import InvalidSyncStateError, account_for
from mailboxes.connectors.ews.folders import fetch_sync_page, open_folder
from mailboxes.connectors.ews.mail import (
    SYNC_FIELDS,
    FetchedMessage,
    fetch_messages,
    inbox,
    move_to_undeliverable,
    send_mime,
    sent_items_contain,
)
from mailboxes.mail.compose import OutgoingMessage
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

Protocol = FolderSyncState.Protocol


def pull_ews(
    mailbox: Mailbox, filer: MailFiler, *, account: Any, max_messages: int
) -> IncomingResult:
    result = IncomingResult()
    folders: list[tuple[Any, MailboxTrackingFolder | None]] = [(inbox(account), None)]
    for tracking in mailbox.tracking_folders.all():
        folders.append((open_folder(account, tracking.exchange_folder_id), tracking))
    for folder, rule in folders:
        if result.fetched >= max_messages:
            result.more = True
            break
        _pull_folder(mailbox, filer, account, folder, rule, result, max_messages)
    return result


def _pull_folder(
    mailbox: Mailbox,
    filer: MailFiler,
    account: Any,
    folder: Any,
    rule: MailboxTrackingFolder | None,
    result: IncomingResult,
    max_messages: int,
) -> None:
    state, _ = FolderSyncState.objects.get_or_create(
        mailbox=mailbox,
        protocol=Protocol.EWS,
        folder_id=folder.id,
        defaults={"item_type": ItemType.EMAIL, "folder_name": folder.name or ""},
    )
    while True:
        try:
            page = fetch_sync_page(
                folder, state.sync_state or None, max_changes=512, only_fields=SYNC_FIELDS
            )
        except InvalidSyncStateError:
            # Start the folder again: item ids already filed are skipped, nothing doubles.
            logger.warning("mailbox %s: sync state of %s rejected; resyncing", mailbox.pk, folder)
            state.sync_state = ""
            state.save(update_fields=["sync_state", "modified_at"])
            page = fetch_sync_page(folder, None, max_changes=512, only_fields=SYNC_FIELDS)
        created: list[Any] = []
        for kind, item in page.changes:
            if kind == "create":
                created.append(item)
            elif kind == "delete":
                # Moved out or deleted: a tracking rule no longer applies to it.
                ProcessedMessage.objects.filter(
                    mailbox=mailbox, protocol=Protocol.EWS, folder_id=folder.id, uid=item.id
                ).update(folder_id=f"{folder.id}#removed")
        done = filer.processed_among(Protocol.EWS, folder.id, [i.id for i in created])
        pending = [i for i in created if i.id not in done]
        for batch_start in range(0, len(pending), settings.CRMSYNC_INCOMING_BATCH):
            batch = pending[batch_start : batch_start + settings.CRMSYNC_INCOMING_BATCH]
            _file_batch(mailbox, filer, account, folder, rule, batch, result)
        state.sync_state = page.sync_state
        state.last_synced_at = timezone.now()
        state.is_initial_sync_complete = state.is_initial_sync_complete or (
            page.includes_last_item_in_range
        )
        state.save(
            update_fields=[
                "sync_state",
                "last_synced_at",
                "is_initial_sync_complete",
                "modified_at",
            ]
        )
        if page.includes_last_item_in_range:
            return
        if result.fetched >= max_messages:
            result.more = True
            return


def _file_batch(
    mailbox: Mailbox,
    filer: MailFiler,
    account: Any,
    folder: Any,
    rule: MailboxTrackingFolder | None,
    batch: Sequence[Any],
    result: IncomingResult,
) -> None:
    messages = fetch_messages(account, [(i.id, i.changekey) for i in batch])
    sources = [
        (
            message.raw,
            MessageSource(
                protocol=Protocol.EWS,
                folder_id=folder.id,
                uid=message.item_id,
                received_at=message.received_at,
                conversation_id=message.conversation_id,
                tracking_folder=rule,
            ),
        )
        for message in messages
    ]
    result.fetched += len(sources)
    undeliverable: list[FetchedMessage] = []
    for message, outcome in zip(messages, filer.file_many(sources), strict=True):
        result.count(outcome)
        if outcome.outcome == Outcome.FAILED:
            undeliverable.append(message)
    profile = mailbox.profile
    if undeliverable and profile is not None and profile.move_undelivered_emails:
        move_to_undeliverable(account, undeliverable)
        result.moved_to_undeliverable += len(undeliverable)


class EwsTransport:
    can_check_sent = True

    def __init__(self, mailbox: Mailbox, account: Any = None) -> None:
        self.mailbox = mailbox
        self._account = account

    @property
    def account(self) -> Any:
        if self._account is None:
            self._account = account_for(self.mailbox)
        return self._account

    def __enter__(self) -> EwsTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def already_sent(self, message_id: str) -> bool:
        return sent_items_contain(self.account, message_id)

    def send(self, message: OutgoingMessage) -> dict[str, str]:
        if not message.recipients:
            raise PermanentSyncError(
                "the email has no recipient with an address",
                code="no_recipients",
                affects_mailbox=False,
            )
        send_mime(self.account, message.raw)
        return {}
