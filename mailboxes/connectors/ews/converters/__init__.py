"""Exchange items ⇄ canonical forms, one module per item type (the CRM side of each type,
the same for every protocol, is in `mailboxes/itemtypes/`)."""

from typing import Any, ClassVar, Protocol

from exchangelib.items import Item

from mailboxes.connectors.base import Canonical
from mailboxes.connectors.ews.converters.appointments import AppointmentConverter
from mailboxes.connectors.ews.converters.contacts import ContactConverter
from mailboxes.connectors.ews.converters.tasks import TaskConverter
from mailboxes.models import ItemType


class ItemConverter(Protocol):
    """One item type on the EWS side: what is read (`ews_fields`), what an update writes
    (`update_fields`), and exchangelib item ⇄ canonical form."""

    ews_class: ClassVar[type[Item]]
    ews_fields: ClassVar[tuple[str, ...]]
    update_fields: ClassVar[tuple[str, ...]]

    def item_canonical(self, item: Any, occurrences: dict[str, Any] | None = None) -> Canonical:
        """The item's canonical form; `occurrences` ({occurrence id: occurrence}) the
        modified occurrences of a series, read whole."""
        ...

    def build_item(self, canonical: Canonical, *, folder: Any) -> Item:
        """A new exchangelib item (not saved) holding the canonical form."""
        ...


CONVERTERS: dict[str, ItemConverter] = {
    ItemType.CONTACT: ContactConverter(),
    ItemType.TASK: TaskConverter(),
    ItemType.APPOINTMENT: AppointmentConverter(),
}

__all__ = ["CONVERTERS", "ItemConverter"]
