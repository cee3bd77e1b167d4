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
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from django.conf import settings
from django.utils import timezone
from exchangelib import Folder, Message
from exchangelib.properties import ItemId

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.ews import InvalidSyncStateError, exchange_errors
from mailboxes.connectors.ews.folders import fetch_sync_page, open_folder
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
UNDELIVERABLE_FOLDER = "Undeliverable"
_SYNC_FIELDS = ["datetime_received"]
_FETCH_FIELDS = ["mime_content", "datetime_received", "conversation_id"]


def pull_ews(
    mailbox: Mailbox, filer: MailFiler, *, account: Any, max_messages: int
) -> IncomingResult:
    result = IncomingResult()
    folders: list[tuple[Any, MailboxTrackingFolder | None]] = [(account.inbox, None)]
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
                folder, state.sync_state or None, max_changes=512, only_fields=_SYNC_FIELDS
            )
        except InvalidSyncStateError:
            # Start the folder again: item ids already filed are skipped, nothing doubles.
            logger.warning("mailbox %s: sync state of %s rejected; resyncing", mailbox.pk, folder)
            state.sync_state = ""
            state.save(update_fields=["sync_state", "modified_at"])
            page = fetch_sync_page(folder, None, max_changes=512, only_fields=_SYNC_FIELDS)
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
    with exchange_errors():
        items = list(
            account.fetch(
                ids=[ItemId(id=i.id, changekey=i.changekey) for i in batch],
                only_fields=_FETCH_FIELDS,
            )
        )
    undeliverable: list[Any] = []
    present = [item for item in items if not isinstance(item, Exception)]  # else: gone since
    fetched = []
    for item in present:
        raw = item.mime_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        conversation = item.conversation_id.id if item.conversation_id else ""
        source = MessageSource(
            protocol=Protocol.EWS,
            folder_id=folder.id,
            uid=item.id,
            received_at=_plain(item.datetime_received),
            conversation_id=conversation,
            tracking_folder=rule,
        )
        fetched.append((raw, source))
    result.fetched += len(fetched)
    for item, outcome in zip(present, filer.file_many(fetched), strict=True):
        result.count(outcome)
        if outcome.outcome == Outcome.FAILED:
            undeliverable.append(item)
    profile = mailbox.profile
    if undeliverable and profile is not None and profile.move_undelivered_emails:
        target = _undeliverable_folder(account)
        with exchange_errors():
            for item in undeliverable:
                item.move(to_folder=target)
        result.moved_to_undeliverable += len(undeliverable)


def _plain(value: Any) -> datetime | None:
    """exchangelib's EWSDateTime as a plain aware datetime (Django cannot store it as is)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _undeliverable_folder(account: Any) -> Any:
    with exchange_errors():
        for child in account.inbox.children:
            if child.name == UNDELIVERABLE_FOLDER:
                return child
        folder = Folder(parent=account.inbox, name=UNDELIVERABLE_FOLDER)
        folder.save()
        return folder


class EwsTransport:
    can_check_sent = True

    def __init__(self, mailbox: Mailbox, account: Any = None) -> None:
        self.mailbox = mailbox
        self._account = account

    @property
    def account(self) -> Any:
        if self._account is None:
            from mailboxes.connectors.ews import account_for

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
        with exchange_errors():
            return bool(self.account.sent.filter(message_id=message_id).exists())

    def send(self, message: OutgoingMessage) -> dict[str, str]:
        if not message.recipients:
            raise PermanentSyncError(
                "the email has no recipient with an address",
                code="no_recipients",
                affects_mailbox=False,
            )
        with exchange_errors():
            Message(
                account=self.account, folder=self.account.sent, mime_content=message.raw
            ).send_and_save()
        return {}
