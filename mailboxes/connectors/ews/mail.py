"""Email over EWS: the messages behind a SyncFolderItems page, the Undeliverable folder, the
Sent Items lookup and sending. The email engine (`mailboxes/mail/ews.py`) decides; these
functions make the requests, with errors translated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exchangelib import Account, Folder, ItemId, Message

from mailboxes.connectors.ews.errors import exchange_errors

UNDELIVERABLE_FOLDER = "Undeliverable"
_FETCH_FIELDS = ["mime_content", "datetime_received", "conversation_id"]
# What a SyncFolderItems page of a mail folder asks for: only what the fetch needs to skip.
SYNC_FIELDS = ("datetime_received",)


@dataclass(frozen=True)
class FetchedMessage:
    """One message as the email engine files it: its MIME and where it came from."""

    item_id: str
    raw: bytes
    received_at: datetime | None
    conversation_id: str
    item: Any  # the exchangelib item, to move it afterwards


def inbox(account: Account) -> Folder:
    """The Inbox, resolved (its real id: the key of the folder's sync state)."""
    with exchange_errors():
        return account.inbox


def fetch_messages(
    account: Account, refs: Sequence[tuple[str, str | None]]
) -> list[FetchedMessage]:
    """GetItem for the MIME of these (id, change key) pairs; items gone since are left out."""
    with exchange_errors():
        items = list(
            account.fetch(
                ids=[ItemId(id=item_id, changekey=changekey) for item_id, changekey in refs],
                only_fields=_FETCH_FIELDS,
            )
        )
    fetched = []
    for item in items:
        if isinstance(item, Exception):
            continue  # deleted or moved since the page was made
        raw = item.mime_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        conversation = item.conversation_id.id if item.conversation_id else ""
        fetched.append(
            FetchedMessage(item.id, raw, _plain(item.datetime_received), conversation, item)
        )
    return fetched


def _plain(value: Any) -> datetime | None:
    """exchangelib's EWSDateTime as a plain aware datetime (Django cannot store it as is)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def move_to_undeliverable(account: Account, messages: Sequence[FetchedMessage]) -> None:
    """Move these messages to the "Undeliverable" folder under the Inbox, made if missing."""
    with exchange_errors():
        target = _undeliverable_folder(account)
        for message in messages:
            message.item.move(to_folder=target)


def _undeliverable_folder(account: Account) -> Folder:
    for child in account.inbox.children:
        if child.name == UNDELIVERABLE_FOLDER:
            return child
    folder = Folder(parent=account.inbox, name=UNDELIVERABLE_FOLDER)
    folder.save()
    return folder


def sent_items_contain(account: Account, message_id: str) -> bool:
    """Whether Sent Items holds a message with this Message-ID (a send that went through)."""
    with exchange_errors():
        return bool(account.sent.filter(message_id=message_id).exists())


def send_mime(account: Account, raw: bytes) -> None:
    """CreateItem with this MIME and SendAndSaveCopy: a copy lands in Sent Items."""
    with exchange_errors():
        Message(account=account, folder=account.sent, mime_content=raw).send_and_save()
