"""Exchange item ⇄ CRM record, one module per item type (see common.py for the scheme)."""

from mailboxes.connectors.ews.converters.appointments import AppointmentConverter
from mailboxes.connectors.ews.converters.common import Canonical, fingerprint
from mailboxes.connectors.ews.converters.contacts import ContactConverter
from mailboxes.connectors.ews.converters.tasks import TaskConverter
from mailboxes.models import ItemType

Converter = AppointmentConverter | ContactConverter | TaskConverter

CONVERTERS: dict[str, Converter] = {
    ItemType.CONTACT: ContactConverter(),
    ItemType.TASK: TaskConverter(),
    ItemType.APPOINTMENT: AppointmentConverter(),
}

__all__ = ["CONVERTERS", "Canonical", "Converter", "fingerprint"]
