"""The item types on the CRM side, whatever the protocol: record ⇄ canonical form, matching,
fingerprints, and per-type policy (`common.TypePolicy`). A connector converts its server's
items to and from the same canonical forms (`mailboxes/connectors/ews/converters/`)."""

from typing import Any

from mailboxes.itemtypes.appointments import AppointmentType
from mailboxes.itemtypes.common import Canonical, TypePolicy, fingerprint
from mailboxes.itemtypes.contacts import ContactType
from mailboxes.itemtypes.tasks import TaskType
from mailboxes.models import ItemType

# Each type's records are typed inside it (TypePolicy[Appointment], ...); across types, Any.
TYPES: dict[str, TypePolicy[Any]] = {
    ItemType.CONTACT: ContactType(),
    ItemType.TASK: TaskType(),
    ItemType.APPOINTMENT: AppointmentType(),
}

__all__ = [
    "TYPES",
    "AppointmentType",
    "Canonical",
    "ContactType",
    "TaskType",
    "TypePolicy",
    "fingerprint",
]
