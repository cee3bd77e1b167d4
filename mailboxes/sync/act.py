"""Appointments, contacts and tasks of one mailbox: for each enabled type, pull every folder
it syncs from, then push the CRM's changes. Contacts go first so that attendees of the
appointments pulled next resolve to them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType

from mailboxes.connectors.ews.folders import subfolders
from mailboxes.models import FolderSyncState, ItemType, ItemTypeSyncOptions
from mailboxes.provisioning import ensure_sync_options
from mailboxes.sync.converters import CONVERTERS
from mailboxes.sync.pull import pull_folder
from mailboxes.sync.push import push_changes
from mailboxes.sync.records import TypeSync

if TYPE_CHECKING:
    from mailboxes.models import Mailbox
    from mailboxes.sync.cycle import CycleContext

logger = logging.getLogger(__name__)

ORDER = (ItemType.CONTACT, ItemType.APPOINTMENT, ItemType.TASK)
FOLDER_NAMES = {"calendar": "Calendar", "contacts": "Contacts", "tasks": "Tasks"}


def run_act(mailbox: Mailbox, ctx: CycleContext) -> None:
    """Sync every enabled item type of the mailbox."""
    if mailbox.user_id is None and mailbox.queue_id is None:
        return
    ensure_sync_options(mailbox)
    options = {o.item_type: o for o in ItemTypeSyncOptions.objects.filter(mailbox=mailbox)}
    for item_type in ORDER:
        option = options.get(item_type)
        if option is None or not option.is_enabled:
            continue
        converter = CONVERTERS[item_type]
        ts = TypeSync(
            mailbox=mailbox,
            options=option,
            converter=converter,
            account=ctx.ews_account(),
            content_type=ContentType.objects.get_for_model(converter.model),
        )
        sync_item_type(ts, ctx)
        ctx.add_processed(ts.processed)
        ctx.add_failed(ts.failed)


def folders_of(ts: TypeSync) -> list[tuple[str, str]]:
    """(folder id, name) pulled for this type: contacts may come from several folders."""
    default = ts.converter.distinguished_folder
    folders = [(default, FOLDER_NAMES[default])]
    if ts.converter.item_type != ItemType.CONTACT:
        return folders
    options = ts.options
    if options.contact_import_scope == options.ContactImportScope.SELECTED_FOLDERS:
        return [(str(f), str(f)) for f in options.contact_import_folders or [] if f]
    return folders + subfolders(ts.account, default)


def sync_item_type(ts: TypeSync, ctx: CycleContext) -> None:
    initial = not FolderSyncState.objects.filter(
        mailbox=ts.mailbox,
        protocol=FolderSyncState.Protocol.EWS,
        folder_id=ts.converter.distinguished_folder,
        is_initial_sync_complete=True,
    ).exists()
    for folder_id, name in folders_of(ts):
        pull_folder(ts, ctx, folder_id, name)
    before = ts.processed
    push_changes(ts, ctx, initial=initial)
    if ts.processed > before and ts.options.crm_to_exchange:
        # Absorb our own writes now (they come back with the change keys we hold), so
        # the stored state is past them and a later delete in Exchange is not lost.
        default = ts.converter.distinguished_folder
        pull_folder(ts, ctx, default, FOLDER_NAMES[default])
