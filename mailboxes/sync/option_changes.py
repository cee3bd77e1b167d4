"""Changing a mailbox's options is a sync job.

An option that widens what a type covers (a direction switched on, "sync from" moved
earlier, contacts of more categories exported, more contact folders imported) is acted on by
the next cycle, without a full resync and without invitations: the next push looks at every
record of the type (`ItemTypeSyncOptions.export_pending`), what the CRM held before the
change is exported without meeting requests (`invitations_from`), and the type's Exchange
folders are read again from the start, which imports what the new option lets in and
matches what is already linked. An option that narrows only stops further changes: nothing
is deleted on either side.

`effects(before, after)` says what saving `after` will do, in words the mailbox pages show
before it is saved; `prepare_next_cycle(before, after)` runs after the save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.utils import timezone

from mailboxes.itemtypes import TYPES
from mailboxes.models import ExchangeSyncIdMapping, FolderSyncState, ItemType, ItemTypeSyncOptions
from mailboxes.sync.scheduling import make_due_now

NOUNS: dict[str, str] = {
    ItemType.APPOINTMENT: "appointment",
    ItemType.CONTACT: "contact",
    ItemType.TASK: "task",
}


def _exports(options: ItemTypeSyncOptions) -> bool:
    return options.is_enabled and options.crm_to_exchange


def _imports(options: ItemTypeSyncOptions) -> bool:
    return options.is_enabled and options.exchange_to_crm


def _earlier(before: ItemTypeSyncOptions, after: ItemTypeSyncOptions) -> bool:
    """ "Sync from" now reaches further back (or no longer limits)."""
    if before.item_type != ItemType.APPOINTMENT or before.sync_from is None:
        return False
    return after.sync_from is None or after.sync_from < before.sync_from


def _export_widens(before: ItemTypeSyncOptions, after: ItemTypeSyncOptions) -> bool:
    if not _exports(after):
        return False
    if not _exports(before) or _earlier(before, after):
        return True
    if after.item_type != ItemType.CONTACT:
        return False
    selected = ItemTypeSyncOptions.ContactExportScope.SELECTED_CATEGORIES
    if before.contact_export_scope != selected:
        return False
    if after.contact_export_scope != selected:
        return True
    return bool(
        set(after.contact_export_categories or []) - set(before.contact_export_categories or [])
    )


def _import_widens(before: ItemTypeSyncOptions, after: ItemTypeSyncOptions) -> bool:
    return _imports(after) and (not _imports(before) or _earlier(before, after))


def _new_folders(before: ItemTypeSyncOptions, after: ItemTypeSyncOptions) -> int:
    """Contact folders the import now reads that it did not (selected folders added)."""
    if after.item_type != ItemType.CONTACT or not _imports(after) or not _imports(before):
        return 0
    selected = ItemTypeSyncOptions.ContactImportScope.SELECTED_FOLDERS
    if after.contact_import_scope != selected or before.contact_import_scope != selected:
        return 0
    return len(set(after.contact_import_folders or []) - set(before.contact_import_folders or []))


@dataclass
class Effects:
    """What saving a change of one type's options does on the next cycle."""

    item_type: str
    exports: int = 0
    reimport: bool = False
    new_folders: int = 0
    stops: list[str] = field(default_factory=list)

    @property
    def acts(self) -> bool:
        """Whether the change exports or imports anything (worth confirming)."""
        return self.exports > 0 or self.reimport or self.new_folders > 0

    def sentences(self) -> list[str]:
        noun = NOUNS[self.item_type]
        plural = f"{noun}s"
        said = []
        if self.exports:
            what = noun if self.exports == 1 else plural
            said.append(
                f"{self.exports} {what} will be exported to Exchange"
                + (" without invitations." if self.item_type == ItemType.APPOINTMENT else ".")
            )
        if self.reimport:
            said.append(
                f"The {plural} in Exchange will be read again from the start: those the new "
                "options let in are imported into the CRM, the others stay as they are."
            )
        if self.new_folders:
            folders = "folder" if self.new_folders == 1 else "folders"
            said.append(
                f"The contacts of {self.new_folders} newly selected {folders} will be imported."
            )
        said.extend(self.stops)
        return said


def _owned(options: ItemTypeSyncOptions) -> QuerySet[Any]:
    mailbox = options.mailbox
    owner = (
        Q(owner_user_id=mailbox.user_id)
        if mailbox.user_id is not None
        else Q(owner_queue_id=mailbox.queue_id)
    )
    kind = TYPES[options.item_type]
    records = kind.model._default_manager.filter(owner)
    if kind.has_series:  # a series' occurrences are exported with it
        records = records.filter(series_master__isnull=True)
    return records


def unexported(options: ItemTypeSyncOptions) -> int:
    """The records the options export that are not linked to an Exchange item yet."""
    kind = TYPES[options.item_type]
    linked = ExchangeSyncIdMapping.objects.filter(
        mailbox_id=options.mailbox_id,
        crm_content_type=ContentType.objects.get_for_model(kind.model),
    ).values("crm_object_id")
    records = _owned(options).exclude(pk__in=linked)
    if not kind.export_reads:
        return records.count()
    return sum(1 for record in records.only(*kind.export_reads) if kind.exports(record, options))


def effects(before: ItemTypeSyncOptions, after: ItemTypeSyncOptions) -> Effects:
    result = Effects(after.item_type)
    if _export_widens(before, after):
        result.exports = unexported(after)
    result.reimport = _import_widens(before, after)
    result.new_folders = _new_folders(before, after)
    plural = f"{NOUNS[after.item_type]}s"
    if _exports(before) and not _exports(after):
        result.stops.append(
            f"CRM changes to {plural} will no longer reach Exchange; nothing is deleted."
        )
    if _imports(before) and not _imports(after):
        result.stops.append(
            f"Exchange changes to {plural} will no longer reach the CRM; nothing is deleted."
        )
    return result


def prepare_next_cycle(before: ItemTypeSyncOptions, after: ItemTypeSyncOptions) -> None:
    """After `after` is saved: have the next cycle act on what the change widened."""
    updates: dict[str, Any] = {}
    if _export_widens(before, after):
        updates.update(export_pending=True, invitations_from=timezone.now())
    if _import_widens(before, after):
        # The type's folders on whichever protocol syncs them.
        FolderSyncState.objects.filter(
            mailbox_id=after.mailbox_id, item_type=after.item_type
        ).update(sync_state="")
    if updates:
        ItemTypeSyncOptions.objects.filter(pk=after.pk).update(**updates)
        for name, value in updates.items():
            setattr(after, name, value)
    if updates or _import_widens(before, after) or _new_folders(before, after):
        make_due_now(after.mailbox_id)
