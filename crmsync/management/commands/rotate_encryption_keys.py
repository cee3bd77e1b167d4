"""Re-encrypt every stored credential with the first key of CRMSYNC_ENCRYPTION_KEYS.

Safe to run while workers write: rows are rotated in batches, each batch read again under
row locks (`SELECT ... FOR UPDATE`) in its own short transaction, so a password saved
meanwhile is never overwritten with the older value, and no table is held for long.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crmsync.crypto import Ciphertext, DecryptionError, encrypted_fields, rotate, rows_with_values

BATCH_ROWS = 500


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
            manager = model._default_manager
            undecryptable = _first_undecryptable(manager, names)
            if undecryptable is not None:
                raise CommandError(f"{label}: {undecryptable} Its rows were left unchanged.")
            count = 0
            after: Any = None
            while (batch := _rotate_batch(manager, names, after)) is not None:
                rotated, after = batch
                count += rotated
            self.stdout.write(f"{label}: re-encrypted {count} row(s)")
            total += count
        self.stdout.write(self.style.SUCCESS(f"Done: {total} row(s) re-encrypted."))


def _first_undecryptable(manager: Any, names: list[str]) -> str | None:
    """Checked before anything is written, so that a missing key changes no row."""
    for _pk, *values in rows_with_values(manager, names).values_list("pk", *names).iterator():
        for value in values:
            if value:
                try:
                    rotate(value)
                except DecryptionError as error:
                    return str(error)
    return None


def _rotate_batch(manager: Any, names: list[str], after: Any) -> tuple[int, Any] | None:
    """Rotate the next rows after primary key `after`, locked; (rows, last key) or None."""
    with transaction.atomic():
        rows = rows_with_values(manager, names).order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        locked = list(rows.select_for_update().values_list("pk", *names)[:BATCH_ROWS])
        if not locked:
            return None
        for pk, *values in locked:
            try:
                # Saved as Ciphertext: the rotated token is stored as it is.
                changes = {
                    name: Ciphertext(rotate(value))
                    for name, value in zip(names, values, strict=True)
                    if value
                }
            except DecryptionError as error:
                # Written meanwhile with a key that was removed since: this batch rolls back.
                raise CommandError(
                    f"{manager.model._meta.label}: {error} Rows from primary key {pk} on were "
                    "left unchanged; running the command again is safe."
                ) from None
            manager.filter(pk=pk).update(**changes)
        return len(locked), locked[-1][0]
