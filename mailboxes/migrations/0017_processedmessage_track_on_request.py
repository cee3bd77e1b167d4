from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0016_mailbox_failing_since"),
    ]

    operations = [
        migrations.AddField(
            model_name="processedmessage",
            name="track_error",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="processedmessage",
            name="track_finished_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="processedmessage",
            name="track_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
