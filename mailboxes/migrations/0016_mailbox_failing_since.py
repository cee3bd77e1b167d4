from typing import Any

from django.db import migrations, models
from django.db.models import F


def from_last_error(apps: Any, schema_editor: Any) -> None:
    """Mailboxes failing before this field existed: the best known start is the latest error."""
    Mailbox = apps.get_model("mailboxes", "Mailbox")
    Mailbox.objects.filter(error_count__gt=0, last_error_at__isnull=False).update(
        failing_since=F("last_error_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0015_fill_invited"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailbox",
            name="failing_since",
            field=models.DateTimeField(
                blank=True,
                help_text='When the first error since the last success happened (the status\'s "failing since").',
                null=True,
            ),
        ),
        migrations.RunPython(from_last_error, migrations.RunPython.noop),
    ]
