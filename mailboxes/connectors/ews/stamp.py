"""The CRM record's id on the Exchange items the CRM writes or links.

Exchange gives an item a new id when it moves to another folder, and a soft delete or a
restore is a move too. So every appointment, contact and task the CRM creates or links
carries the id of its CRM record in a named extended property of crmsync's own property
set (a fixed GUID, as Dynamics stamps its items); the pull finds a moved item again by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchangelib import Account, CalendarItem, Contact, Task
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import SEND_TO_NONE

from mailboxes.connectors.ews.errors import exchange_errors
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


def stamp_existing(account: Account, items: Sequence[tuple[Any, int]]) -> list[Any]:
    """Write the record id on existing items (one UpdateItem per 100 items, this property
    only, whatever else changed meanwhile). Returns, per item, its new (id, change key)
    or the exception the server answered."""
    if not items:
        return []
    for item, record_id in items:
        stamp(item, record_id)
    with exchange_errors():
        return list(
            account.bulk_update(
                items=[(item, [FIELD]) for item, _ in items],
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
