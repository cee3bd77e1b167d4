"""Who holds a meeting without having been sent it (`withheld`).

A meeting written to Exchange without being sent (the first sync, a full resync, an option
change, "send invitations" off) or saved unsent in Outlook stays unsent: its later changes
send nothing, attendees added in the CRM included (README, "Meeting invitations"). Before
this field, such a meeting was told apart only by an empty `invited`; the meetings the
mailbox organizes whose mapping has an empty `invited` and that have attendees now are
exactly those the code of that time kept silent, so their attendees are `withheld`.
"""

import importlib
from typing import Any

from django.db import migrations, models

set_attendees = importlib.import_module("mailboxes.migrations.0015_fill_invited").set_attendees


def fill_withheld(apps: Any, schema_editor: Any) -> None:
    mapping_model = apps.get_model("mailboxes", "ExchangeSyncIdMapping")
    party_model = apps.get_model("activities", "ActivityParty")
    mappings = mapping_model.objects.filter(object_type="appointment", invited=[])
    set_attendees(mapping_model, party_model, mappings, "withheld")


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0006_alter_email_status"),
        ("mailboxes", "0017_processedmessage_track_on_request"),
    ]

    operations = [
        migrations.AddField(
            model_name="exchangesyncidmapping",
            name="withheld",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Meetings: the attendees (lower-case addresses) the meeting was "
                "written to Exchange with but not sent to (a first sync, a full resync, an "
                "option change, 'send invitations' off, unsent in Outlook); a meeting nobody "
                "was sent stays unsent.",
            ),
        ),
        migrations.RunPython(fill_withheld, migrations.RunPython.noop, elidable=True),
    ]
