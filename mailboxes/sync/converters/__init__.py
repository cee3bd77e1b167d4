"""Exchange item ⇄ CRM record, one module per item type (see common.py for the scheme)."""

from mailboxes.models import ItemType
from mailboxes.sync.converters.appointments import AppointmentConverter
from mailboxes.sync.converters.common import Canonical, fingerprint
from mailboxes.sync.converters.contacts import ContactConverter
from mailboxes.sync.converters.tasks import TaskConverter

Converter = AppointmentConverter | ContactConverter | TaskConverter

CONVERTERS: dict[str, Converter] = {
    ItemType.CONTACT: ContactConverter(),
    ItemType.TASK: TaskConverter(),
    ItemType.APPOINTMENT: AppointmentConverter(),
}

__all__ = ["CONVERTERS", "Canonical", "Converter", "fingerprint"]
