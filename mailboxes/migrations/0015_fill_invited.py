"""Who has received a meeting, for the id mappings written before it was recorded.

Mappings written before `0009` (which added `invited`) have an empty list, so a later change
of such a meeting would update nobody. The code of that time sent a meeting created in the
CRM after the mailbox's first sync to its attendees and every later change of a meeting to
all of its attendees, and a meeting that came from Exchange was sent by Exchange (Outlook):
so the attendees such a meeting has now are taken as having received it. Only meetings the
mailbox organizes (no organizer, or the mailbox's own address) with attendees are filled;
mappings written since `0009` are left as they are.
"""

from typing import Any

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder

ATTENDEE_ROLES = ("required", "optional", "resource")
CHUNK = 500


def fill_invited(apps: Any, schema_editor: Any) -> None:
    mapping_model = apps.get_model("mailboxes", "ExchangeSyncIdMapping")
    party_model = apps.get_model("activities", "ActivityParty")
    applied = (
        MigrationRecorder(schema_editor.connection)
        .migration_qs.filter(app="mailboxes", name="0009_meetings_and_option_changes")
        .values_list("applied", flat=True)
        .first()
    )
    mappings = mapping_model.objects.filter(object_type="appointment", invited=[])
    if applied is not None:
        mappings = mappings.filter(created_at__lt=applied)
    set_attendees(mapping_model, party_model, mappings, "invited")


def set_attendees(mapping_model: Any, party_model: Any, mappings: Any, field: str) -> None:
    """Set `field` of each of `mappings` whose meeting the mailbox organizes to the
    attendees the meeting has (also used by migration 0018)."""
    ids = list(mappings.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        chunk = list(
            mapping_model.objects.filter(pk__in=ids[start : start + CHUNK]).select_related(
                "mailbox"
            )
        )
        changed = []
        for mapping, attendees in organized_attendees(party_model, chunk):
            setattr(mapping, field, attendees)
            changed.append(mapping)
        mapping_model.objects.bulk_update(changed, [field])


def organized_attendees(party_model: Any, chunk: list[Any]) -> list[tuple[Any, list[str]]]:
    """(mapping, its attendees' lower-case addresses) for the mappings of `chunk` whose
    meeting the mailbox organizes (no organizer, or its own address) and has attendees."""
    parties: dict[int, list[tuple[str, str]]] = {}
    for appointment_id, role, address in party_model.objects.filter(
        appointment_id__in=[m.crm_object_id for m in chunk]
    ).values_list("appointment_id", "role", "address"):
        parties.setdefault(appointment_id, []).append((role, address.strip().lower()))
    found_list = []
    for mapping in chunk:
        own = mapping.mailbox.email_address.strip().lower()
        found = parties.get(mapping.crm_object_id, [])
        organizers = {a for role, a in found if role == "organizer" and a}
        if organizers and organizers != {own}:
            continue  # someone else's meeting: this mailbox sent it to nobody
        attendees = sorted({a for role, a in found if role in ATTENDEE_ROLES and a})
        if attendees:
            found_list.append((mapping, attendees))
    return found_list


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0005_meetings_and_option_changes"),
        ("mailboxes", "0014_graph_subscription"),
    ]

    operations = [
        migrations.RunPython(fill_invited, migrations.RunPython.noop, elidable=True),
    ]
