"""A Graph subscription outlives its mailbox until beat deletes it at Graph: the mailbox
becomes optional, and the profile whose application made it is kept (filled from the
mailbox's profile for the existing rows)."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_profile(apps: Any, schema_editor: Any) -> None:
    subscription = apps.get_model("mailboxes", "GraphSubscription")
    mailbox = apps.get_model("mailboxes", "Mailbox")
    subscription.objects.filter(profile__isnull=True).update(
        profile=Subquery(mailbox.objects.filter(pk=OuterRef("mailbox_id")).values("profile_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0018_mapping_withheld"),
        ("profiles", "0006_emailserverprofile_smtp_saves_sent_copy"),
    ]

    operations = [
        migrations.AddField(
            model_name="graphsubscription",
            name="profile",
            field=models.ForeignKey(
                blank=True,
                help_text="Whose application made it (and deletes it at Graph).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="profiles.emailserverprofile",
            ),
        ),
        migrations.AlterField(
            model_name="graphsubscription",
            name="mailbox",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty once the mailbox is deleted, until beat deletes the subscription.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="graph_subscriptions",
                to="mailboxes.mailbox",
            ),
        ),
        migrations.RunPython(fill_profile, migrations.RunPython.noop),
    ]
