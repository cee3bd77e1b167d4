"""Pulling new mail from POP3 and IMAP servers into the filer.

POP3: the UIDL of every filed message is remembered (ProcessedMessage), so a message is
fetched once; with process-and-delete it is deleted after it is filed, and a message filed
in a cycle whose QUIT failed is deleted in the next one. IMAP: per folder, UIDVALIDITY and
the highest UID seen (FolderSyncState); a changed UIDVALIDITY starts the folder again, and
Message-ID duplicate detection keeps that from filing anything twice. Messages are fetched
in batches bounded in count and bytes, so memory does not grow with the mailbox.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from mailboxes.connectors.imap import ImapConnector
from mailboxes.connectors.pop3 import Pop3Connector
from mailboxes.connectors.settings import imap_settings, pop3_settings
from mailboxes.mail.filing import MailFiler, MessageSource
from mailboxes.mail.results import IncomingResult
from mailboxes.models import FolderSyncState, ItemType, Mailbox, MailboxTrackingFolder

logger = logging.getLogger(__name__)

Protocol = FolderSyncState.Protocol
POP3_FOLDER = "INBOX"
BATCH_BYTES = 16 * 1024 * 1024


def pull_pop3(mailbox: Mailbox, filer: MailFiler, *, max_messages: int) -> IncomingResult:
    result = IncomingResult()
    state = _state(mailbox, Protocol.POP3, POP3_FOLDER)
    with Pop3Connector(pop3_settings(mailbox)) as pop:
        messages = pop.list_messages()
        done = filer.processed_uids(Protocol.POP3, POP3_FOLDER)
        pending: list[tuple[bytes, MessageSource]] = []
        numbers: list[int] = []
        pending_bytes = 0

        def flush() -> None:
            nonlocal pending_bytes
            for outcome in filer.file_many(pending):
                result.count(outcome)
            if mailbox.process_and_delete:
                for number in numbers:
                    pop.delete(number)
                result.deleted_on_server += len(numbers)
            pending.clear()
            numbers.clear()
            pending_bytes = 0

        for message in messages:
            if message.uid in done:
                if mailbox.process_and_delete:
                    pop.delete(message.number)
                    result.deleted_on_server += 1
                continue
            if result.fetched >= max_messages:
                result.more = True
                break
            raw = pop.fetch(message.number)
            result.fetched += 1
            pending.append(
                (raw, MessageSource(protocol=Protocol.POP3, folder_id=POP3_FOLDER, uid=message.uid))
            )
            numbers.append(message.number)
            pending_bytes += len(raw)
            if len(pending) >= settings.CRMSYNC_INCOMING_BATCH or pending_bytes >= BATCH_BYTES:
                flush()
        if pending:
            flush()
    state.last_synced_at = timezone.now()
    state.is_initial_sync_complete = not result.more
    state.save(update_fields=["last_synced_at", "is_initial_sync_complete", "modified_at"])
    return result


def imap_folders(mailbox: Mailbox) -> list[tuple[str, MailboxTrackingFolder | None]]:
    """INBOX, then each tracking folder (on IMAP its id is the folder's name)."""
    folders: list[tuple[str, MailboxTrackingFolder | None]] = [("INBOX", None)]
    for rule in mailbox.tracking_folders.all():
        name = rule.exchange_folder_id or rule.exchange_folder_name
        if name and name.upper() != "INBOX":
            folders.append((name, rule))
    return folders


def pull_imap(mailbox: Mailbox, filer: MailFiler, *, max_messages: int) -> IncomingResult:
    result = IncomingResult()
    since = filer.cutoff - timedelta(days=1) if filer.cutoff else None
    with ImapConnector(imap_settings(mailbox)) as imap:
        for folder, rule in imap_folders(mailbox):
            if result.fetched >= max_messages:
                result.more = True
                break
            validity = imap.select(folder, readonly=True)
            state = _state(mailbox, Protocol.IMAP, folder)
            if state.uid_validity != validity:
                if state.uid_validity is not None:
                    logger.warning(
                        "mailbox %s: UIDVALIDITY of %s changed from %s to %s; reading it again",
                        mailbox.pk,
                        folder,
                        state.uid_validity,
                        validity,
                    )
                state.uid_validity = validity
                state.last_uid = 0
                state.save(update_fields=["uid_validity", "last_uid", "modified_at"])
            last_uid = state.last_uid or 0
            uids = imap.uids_after(last_uid, since=since if last_uid == 0 else None)
            if not uids:
                _touch(state, complete=True)
                continue
            done = filer.processed_among(Protocol.IMAP, folder, [str(u) for u in uids], validity)
            pending = [u for u in uids if str(u) not in done]
            room = max_messages - result.fetched
            if len(pending) > room:
                pending = pending[:room]
                result.more = True
            for batch in _batches(pending, imap.sizes(pending), settings.CRMSYNC_INCOMING_BATCH):
                fetched = [
                    (
                        message.raw,
                        MessageSource(
                            protocol=Protocol.IMAP,
                            folder_id=folder,
                            uid=str(message.uid),
                            uid_validity=validity,
                            received_at=message.internal_date,
                            tracking_folder=rule,
                        ),
                    )
                    for message in imap.fetch(batch)
                ]
                result.fetched += len(fetched)
                for outcome in filer.file_many(fetched):
                    result.count(outcome)
                del fetched
                state.last_uid = max(batch)
                state.save(update_fields=["last_uid", "modified_at"])
            if not result.more:
                # Everything up to the highest UID seen is filed (or was filed before).
                state.last_uid = max(uids)
            _touch(state, complete=not result.more)
    return result


def _batches(uids: Sequence[int], sizes: dict[int, int], count: int) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= count or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _state(mailbox: Mailbox, protocol: str, folder: str) -> FolderSyncState:
    state, _created = FolderSyncState.objects.get_or_create(
        mailbox=mailbox,
        protocol=protocol,
        folder_id=folder,
        defaults={"item_type": ItemType.EMAIL, "folder_name": folder},
    )
    return state


def _touch(state: FolderSyncState, *, complete: bool) -> None:
    state.last_synced_at = timezone.now()
    state.is_initial_sync_complete = state.is_initial_sync_complete or complete
    state.save(
        update_fields=["last_uid", "last_synced_at", "is_initial_sync_complete", "modified_at"]
    )
