"""Re-encrypt every stored credential with the first key of CRMSYNC_ENCRYPTION_KEYS."""

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crmsync.crypto import DecryptionError, EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypts every encrypted field with the first key of CRMSYNC_ENCRYPTION_KEYS, so "
        "that older keys can be removed afterwards."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            label = model._meta.label
            count = 0
            with transaction.atomic():
                manager = model._default_manager
                try:
                    rows = list(manager.values_list("pk", *fields))
                except DecryptionError as error:
                    raise CommandError(f"{label}: {error} Its rows were left unchanged.") from None
                for pk, *values in rows:
                    changes = {
                        name: value for name, value in zip(fields, values, strict=True) if value
                    }
                    if changes:
                        # update() runs get_prep_value, which encrypts with the first key.
                        manager.filter(pk=pk).update(**changes)
                        count += 1
            self.stdout.write(f"{label}: re-encrypted {count} row(s)")
            total += count
        self.stdout.write(self.style.SUCCESS(f"Done: {total} row(s) re-encrypted."))
