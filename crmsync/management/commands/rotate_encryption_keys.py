"""Re-encrypt every stored credential with the first key of CRMSYNC_ENCRYPTION_KEYS."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crmsync.crypto import Ciphertext, DecryptionError, encrypted_fields, rotate, rows_with_values


class Command(BaseCommand):
    help = (
        "Re-encrypts every encrypted field with the first key of CRMSYNC_ENCRYPTION_KEYS, so "
        "that older keys can be removed afterwards."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model, fields in encrypted_fields():
            names = [field.attname for field in fields]
            label = model._meta.label
            count = 0
            with transaction.atomic():
                manager = model._default_manager
                for pk, *values in rows_with_values(manager, names).values_list("pk", *names):
                    try:
                        # Saved as Ciphertext: the rotated token is stored as it is.
                        changes = {
                            name: Ciphertext(rotate(value))
                            for name, value in zip(names, values, strict=True)
                            if value
                        }
                    except DecryptionError as error:
                        raise CommandError(
                            f"{label}: {error} Its rows were left unchanged."
                        ) from None
                    manager.filter(pk=pk).update(**changes)
                    count += 1
            self.stdout.write(f"{label}: re-encrypted {count} row(s)")
            total += count
        self.stdout.write(self.style.SUCCESS(f"Done: {total} row(s) re-encrypted."))
