"""Encryption at rest for credentials, with a rotatable key list that is not SECRET_KEY.

`CRMSYNC_ENCRYPTION_KEYS` holds Fernet keys, comma-separated: the first encrypts, every one
decrypts, so a new key is put first, `manage.py rotate_encryption_keys` re-encrypts every
stored value with it, and the old key can then be removed.
"""

import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any configured key."""


def _load_keys() -> list[str]:
    keys: list[str] = list(settings.CRMSYNC_ENCRYPTION_KEYS)
    if keys:
        return keys
    key_file = getattr(settings, "CRMSYNC_ENCRYPTION_KEY_FILE", None)
    if key_file is None:
        raise ImproperlyConfigured("CRMSYNC_ENCRYPTION_KEYS is empty.")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode() + "\n")
        key_file.chmod(0o600)
    return [key_file.read_text().strip()]


@functools.cache
def multi_fernet() -> MultiFernet:
    fernets = []
    for position, key in enumerate(_load_keys(), start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise ImproperlyConfigured(
                f"CRMSYNC_ENCRYPTION_KEYS: key number {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    return MultiFernet(fernets)


def encrypt(plaintext: str) -> str:
    return multi_fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return multi_fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored credential cannot be decrypted with any key in CRMSYNC_ENCRYPTION_KEYS."
        ) from None


def rotate(token: str) -> str:
    try:
        return multi_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored credential cannot be decrypted with any key in CRMSYNC_ENCRYPTION_KEYS."
        ) from None


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python code sees the plaintext.

    The empty string is stored as is, so "no password" stays distinguishable and cheap.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def formfield(self, **kwargs: Any) -> Any:
        """A write-only password field, so that no form can render the plaintext by accident.

        A form that declares its own field still wins (Django only asks the model field when
        the form does not); `WriteOnlyPasswordsMixin` adds the "stored / not stored" hint.
        """
        # Imported here: crmsync.forms imports Django's forms, which models must not need.
        from crmsync.forms import WriteOnlyPasswordField

        defaults: dict[str, Any] = {"form_class": WriteOnlyPasswordField, **kwargs}
        # A textarea (TextField's default, or the admin's override for text fields) would
        # show the value in clear: skip TextField.formfield and any widget asked for.
        defaults.pop("widget", None)
        defaults.pop("max_length", None)
        return models.Field.formfield(self, **defaults)

    def save_form_data(self, instance: models.Model, data: Any) -> None:
        """A blank write-only field means "unchanged"; only the clear checkbox empties it."""
        from crmsync.forms import ClearedPassword

        if not data and not isinstance(data, ClearedPassword):
            return
        super().save_form_data(instance, data)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(str(value))
