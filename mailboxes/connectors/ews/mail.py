"""Email over EWS behind the email seam (`mailboxes/connectors/mail_base.py`): folders paged
by the one SyncFolderItems loop (`folders.sync_pages`), GetItem for the MIME, the
Undeliverable folder, the Sent Items lookup and sending."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from exchangelib import Account, Folder, ItemId, Message

from mailboxes.connectors.ews.errors import InvalidSyncStateError, exchange_errors
from mailboxes.connectors.ews.folders import CREATE, DELETE, open_folder, sync_pages
from mailboxes.connectors.mail_base import (
    UNDELIVERABLE_FOLDER,
    ComposedMessage,
    CursorLostError,
    IncomingMessage,
    MailFolder,
    MailPage,
    MessageRef,
    SendStamp,
)
from mailboxes.connectors.session import Session

_FETCH_FIELDS = ["mime_content", "datetime_received", "conversation_id"]
# What a SyncFolderItems page of a mail folder asks for: only what the fetch needs to skip.
SYNC_FIELDS = ("datetime_received",)


class EwsMailSource:
    """Incoming mail of one mailbox over EWS (`MailFolderSource`)."""

    protocol = "ews"

    def __init__(self, account: Account) -> None:
        self.account = account

    def inbox(self) -> MailFolder:
        # Resolved: its real id is the key of the Inbox's folder state.
        with exchange_errors():
            folder = self.account.inbox
        return MailFolder(folder.id, folder.name or "", folder)

    def sent_items(self) -> MailFolder:
        return MailFolder("sentitems", "Sent Items", open_folder(self.account, "sentitems"))

    def folder(self, folder_id: str, name: str = "") -> MailFolder:
        return MailFolder(folder_id, name, open_folder(self.account, folder_id))

    def pages(self, folder: MailFolder, cursor: str | None) -> Iterator[MailPage]:
        try:
            for page in sync_pages(folder.handle, cursor, only_fields=SYNC_FIELDS):
                yield MailPage(
                    new=[
                        MessageRef(item.id, handle=item.changekey)
                        for kind, item in page.changes
                        if kind == CREATE
                    ],
                    removed=[item.id for kind, item in page.changes if kind == DELETE],
                    cursor=page.sync_state,
                    complete=page.includes_last_item_in_range,
                )
        except InvalidSyncStateError as exc:
            raise CursorLostError(exc.message, code=exc.code) from exc

    def fetch(self, folder: MailFolder, refs: Sequence[MessageRef]) -> list[IncomingMessage]:
        """GetItem for the MIME; items gone since the page are left out."""
        ids = [ItemId(id=ref.uid, changekey=ref.handle) for ref in refs]
        with exchange_errors():
            items = list(self.account.fetch(ids=ids, only_fields=_FETCH_FIELDS))
        fetched = []
        for item in items:
            if isinstance(item, Exception):
                continue  # deleted or moved since the page was made
            raw = item.mime_content or b""
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "surrogateescape")
            conversation = item.conversation_id.id if item.conversation_id else ""
            fetched.append(
                IncomingMessage(
                    item.id, raw, folder.id, _plain(item.datetime_received), conversation, item
                )
            )
        return fetched

    def move_to_undeliverable(self, messages: Sequence[IncomingMessage]) -> None:
        with exchange_errors():
            target = _undeliverable_folder(self.account)
            for message in messages:
                message.handle.move(to_folder=target)  # type: ignore[attr-defined]


def _plain(value: Any) -> datetime | None:
    """exchangelib's EWSDateTime as a plain aware datetime (Django cannot store it as is)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _undeliverable_folder(account: Account) -> Folder:
    for child in account.inbox.children:
        if child.name == UNDELIVERABLE_FOLDER:
            return child
    folder = Folder(parent=account.inbox, name=UNDELIVERABLE_FOLDER)
    folder.save()
    return folder


class EwsMailSender(Session):
    """Outgoing mail over EWS (`MailSender`): CreateItem with the composed MIME and
    SendAndSaveCopy (a copy lands in Sent Items); the stamp is the fixed Message-ID, looked
    up in Sent Items before any retry."""

    can_check_sent = True

    def __init__(self, account: Account) -> None:
        self.account = account

    def already_sent(self, stamp: SendStamp) -> bool:
        with exchange_errors():
            return bool(self.account.sent.filter(message_id=stamp.message_id).exists())

    def send(self, message: ComposedMessage) -> dict[str, str]:
        with exchange_errors():
            Message(
                account=self.account, folder=self.account.sent, mime_content=message.raw
            ).send_and_save()
        return {}
