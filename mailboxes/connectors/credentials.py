"""Reading a stored password for a connection, with the one error a missing key gives."""

from __future__ import annotations

from django.db import models

from crmsync.crypto import DecryptionError
from mailboxes.connectors import PermanentSyncError


def stored_password(record: models.Model, field_name: str) -> str:
    """The record's decrypted password, or a permanent error naming whose password it is.

    Decryption fails when the value was encrypted with a key that is no longer in
    CRMSYNC_ENCRYPTION_KEYS; retrying cannot help, a person has to act.
    """
    try:
        password: str = getattr(record, field_name)
    except DecryptionError:
        label = getattr(record._meta.get_field(field_name), "verbose_name", field_name)
        raise PermanentSyncError(
            f"The stored {label} of {record._meta.verbose_name} “{record}” cannot be "
            "decrypted with any key in CRMSYNC_ENCRYPTION_KEYS: add back the key it was "
            "encrypted with, or enter the password again.",
            code="undecryptable_credentials",
        ) from None
    return password
