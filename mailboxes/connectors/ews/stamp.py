"""The CRM record's id on the Exchange items the CRM writes or links.

Exchange gives an item a new id when it moves to another folder, and a soft delete or a
restore is a move too. So every appointment, contact and task the CRM creates or links
carries the id of its CRM record in a named extended property of crmsync's own property
set (a fixed GUID, as Dynamics stamps its items); the pull finds a moved item again by it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, ClassVar

from exchangelib import Account, CalendarItem, Contact, Task
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import SEND_TO_NONE, Item
from exchangelib.util import TNS, create_element

from mailboxes.connectors.ews.errors import exchange_errors
from mailboxes.connectors.ews.folders import _UpdateItem, _WholeBody
from mailboxes.connectors.stamp import PROPERTY_NAME, PROPERTY_SET_ID

FIELD = "crm_record_id"


class CrmRecordId(ExtendedProperty):
    """The CRM record's id (decimal text) on an Exchange item."""

    property_set_id = PROPERTY_SET_ID
    property_name = PROPERTY_NAME
    property_type = "String"


for _item_class in (CalendarItem, Contact, Task):
    if FIELD not in {f.name for f in _item_class.FIELDS}:
        _item_class.register(FIELD, CrmRecordId)


def record_id_of(item: Any) -> int | None:
    """The CRM record id an item carries, if any (a value we did not write is ignored)."""
    value = getattr(item, FIELD, None)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def stamp(item: Any, record_id: int) -> None:
    """Mark an item about to be created with its CRM record's id."""
    setattr(item, FIELD, str(record_id))


# Item changes per UpdateItem (exchangelib's chunk size for every item operation).
STAMP_BATCH = 100


class _StampItems(_WholeBody, _UpdateItem):
    """UpdateItem writing the record id alone on items given as (item class, id, change key,
    record id), its answer parsed in one piece.

    The `Updates` of two stamps differ only in the value: exchangelib builds each one field
    by field, for an item object made first (together more than the server's work on the
    page), so exchangelib builds one per item class and it is copied with each value."""

    _updates: ClassVar[dict[tuple[type[Item], str], Any]] = {}

    def _template(self, item_class: type[Item]) -> Any:
        key = (item_class, self.account.version.api_version)
        template = self._updates.get(key)
        if template is None:
            model = item_class(account=self.account, id="-", changekey="-")
            stamp(model, 0)
            change = super()._change_elem(target=model, fieldnames=[FIELD])
            template = change.find(f"{{{TNS}}}Updates")
            self._updates[key] = template
        return template

    def _changes_elem(self, target_changes: Any) -> Any:
        changes = create_element(self.CHANGES_ELEMENT_NAME)
        for item_class, item_id, change_key, record_id in target_changes:
            change = create_element(self.CHANGE_ELEMENT_NAME)
            attrs = {"Id": item_id, "ChangeKey": change_key} if change_key else {"Id": item_id}
            change.append(create_element("t:ItemId", attrs=attrs))
            updates = copy.deepcopy(self._template(item_class))
            updates.find(f".//{{{TNS}}}Value").text = str(record_id)
            change.append(updates)
            changes.append(change)
        return changes


def stamp_existing(
    account: Account, item_class: type[Item], items: Sequence[tuple[str, str | None, int]]
) -> list[Any]:
    """Write the record id on existing items of `item_class`, given as (id, change key,
    record id): this property only, whatever else changed meanwhile, in UpdateItems of
    `STAMP_BATCH` item changes. Returns, per item, its new (id, change key) or the
    exception the server answered."""
    if not items:
        return []
    with exchange_errors():
        return list(
            _StampItems(account=account, chunk_size=STAMP_BATCH).call(
                items=[(item_class, *item) for item in items],
                conflict_resolution="AlwaysOverwrite",
                message_disposition="SaveOnly",
                send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                suppress_read_receipts=True,
            )
        )


def find_stamped(folder: Any, record_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """{record id: (item id, change key)} of the items in `folder` that carry one of
    these record ids (FindItem restricted on the property)."""
    if not record_ids:
        return {}
    found: dict[int, tuple[str, str]] = {}
    values = [str(r) for r in record_ids]
    with exchange_errors():
        for item in folder.filter(**{f"{FIELD}__in": values}).only(FIELD):
            if isinstance(item, BaseException):
                continue
            record_id = record_id_of(item)
            if record_id is not None:
                found.setdefault(record_id, (item.id, item.changekey))
    return found
