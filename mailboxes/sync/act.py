"""Appointments, contacts and tasks of one mailbox: for each enabled type, pull every folder
it syncs from, then push the CRM's changes. Contacts go first so that attendees of the
appointments pulled next resolve to them. Last, the record ids still to write on items
(`stamps.py`: Graph), a budget a cycle."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from mailboxes.connectors.base import FolderNotFoundError
from mailboxes.itemtypes import TYPES
from mailboxes.itemtypes.common import R
from mailboxes.models import FolderSyncState, ItemType, ItemTypeSyncOptions
from mailboxes.provisioning import ensure_sync_options
from mailboxes.sync.pull import StampWriter, pull_folder
from mailboxes.sync.push import push_changes
from mailboxes.sync.records import TypeSync
from mailboxes.sync.stamps import write_pending_stamps

if TYPE_CHECKING:
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext

logger = logging.getLogger(__name__)

ORDER = (ItemType.CONTACT, ItemType.APPOINTMENT, ItemType.TASK)
FOLDER_NAMES = {"calendar": "Calendar", "contacts": "Contacts", "tasks": "Tasks"}
# How long the list of folders below Contacts is trusted before it is listed again.
CONTACT_FOLDERS_RELIST = timedelta(hours=1)


def run_act(mailbox: Mailbox, ctx: CycleContext) -> None:
    """Sync every enabled item type of the mailbox."""
    if mailbox.user_id is None and mailbox.queue_id is None:
        return
    options = {o.item_type: o for o in ItemTypeSyncOptions.objects.filter(mailbox=mailbox)}
    if len(options) < len(ItemTypeSyncOptions.SYNCED_TYPES):
        ensure_sync_options(mailbox)
        options = {o.item_type: o for o in ItemTypeSyncOptions.objects.filter(mailbox=mailbox)}
    connector = ctx.connector()
    states = {
        s.folder_id: s
        for s in FolderSyncState.objects.filter(mailbox=mailbox, protocol=connector.protocol)
    }
    # One writer of marks for the cycle: a folder's last page of marks is written while
    # the next folder (or type) downloads.
    stamps = StampWriter()
    try:
        for item_type in ORDER:
            option = options.get(item_type)
            if option is None or not option.is_enabled:
                continue
            kind = TYPES[item_type]
            ts = TypeSync(
                mailbox=mailbox,
                options=option,
                kind=kind,
                connector=connector.items(kind),
                protocol=connector.protocol,
                content_type=ContentType.objects.get_for_model(kind.model),
            )
            sync_item_type(ts, ctx, states, stamps)
            ctx.add_processed(ts.processed)
            ctx.add_failed(ts.failed)
        stamps.wait()
    finally:
        stamps.close()
    write_pending_stamps(mailbox, connector, ctx)


def folders_of(
    ts: TypeSync[R], ctx: CycleContext, states: dict[str, FolderSyncState]
) -> tuple[list[tuple[str, str]], bool]:
    """(folder id, name) pulled for this type: contacts (`has_subfolders`) may come from
    several folders.

    The folders below Contacts are listed (one deep FindFolder) at most every
    `CONTACT_FOLDERS_RELIST`, otherwise the ones found last time are pulled: an idle cycle
    then costs one request per folder. The second value says whether they were listed now.
    """
    default = ts.kind.default_folder
    folders = [(default, FOLDER_NAMES[default])]
    if not ts.kind.has_subfolders:
        return folders, False
    options = ts.options
    if options.contact_import_scope == options.ContactImportScope.SELECTED_FOLDERS:
        return [(str(f), str(f)) for f in options.contact_import_folders or [] if f], False
    root = states.get(default)
    listed_at = root.subfolders_listed_at if root is not None else None
    fresh = listed_at is not None and timezone.now() - listed_at < CONTACT_FOLDERS_RELIST
    if fresh and not ctx.full_resync:
        known = [
            (s.folder_id, s.folder_name)
            for s in states.values()
            if s.item_type == ts.kind.item_type and s.folder_id != default
        ]
        return folders + known, False
    found = [(f.id, f.name) for f in ts.connector.folders_below(default)]
    found_ids = {folder_id for folder_id, _ in found}
    # Folders no longer below Contacts (deleted, moved, or selected under an earlier scope)
    # are no longer pulled; their mappings stay.
    gone = [
        folder_id
        for folder_id, s in states.items()
        if s.item_type == ts.kind.item_type and folder_id != default and folder_id not in found_ids
    ]
    if gone:
        FolderSyncState.objects.filter(pk__in=[states.pop(f).pk for f in gone]).delete()
    return folders + found, True


def sync_item_type(
    ts: TypeSync[R], ctx: CycleContext, states: dict[str, FolderSyncState], stamps: StampWriter
) -> None:
    """Pull the type's folders, then push the CRM's changes; the marks go through the
    cycle's `stamps` writer (the last page's may still be in flight on return)."""
    default = ts.kind.default_folder
    root = states.get(default)
    initial = root is None or not root.is_initial_sync_complete
    folders, listed = folders_of(ts, ctx, states)
    for folder_id, name in folders:
        try:
            states[folder_id] = pull_folder(ts, ctx, folder_id, name, states.get(folder_id), stamps)
        except FolderNotFoundError:
            if folder_id == default:
                raise
            # Deleted since it was listed or selected: list again next cycle.
            logger.warning("mailbox %s: contacts folder %s is gone", ts.mailbox.pk, name)
            ts.failed += 1
            listed = False
            FolderSyncState.objects.filter(
                mailbox=ts.mailbox, protocol=ts.protocol, folder_id=default
            ).update(subfolders_listed_at=None)
    if listed:
        FolderSyncState.objects.filter(
            mailbox=ts.mailbox, protocol=ts.protocol, folder_id=default
        ).update(subfolders_listed_at=timezone.now())
    before = ts.processed
    # A push sends the change keys the mappings hold: the marks in flight are waited for
    # first, if it has anything to send.
    push_changes(ts, ctx, initial=initial, settle=stamps.wait)
    pulled_default = any(folder_id == default for folder_id, _ in folders)
    if ts.processed > before and ts.options.crm_to_exchange and pulled_default:
        # Absorb our own writes now (they come back with the change keys we hold), so
        # the stored state is past them and a later delete in Exchange is not lost. (Not
        # when contacts come from selected folders only: the default one is not imported.)
        states[default] = pull_folder(
            ts, ctx, default, FOLDER_NAMES[default], states[default], stamps
        )
