"""Encryption at rest for credentials, with a rotatable key list that is not SECRET_KEY.

`CRMSYNC_ENCRYPTION_KEYS` holds Fernet keys, comma-separated: the first encrypts, every one
decrypts, so a new key is put first, `manage.py rotate_encryption_keys` re-encrypts every
stored value with it, and the old key can then be removed.

A value is decrypted when the attribute is read, never when the row is loaded: a page that
lists mailboxes works even when a key is missing, and only the code that uses a password
meets the `DecryptionError` (the sync turns it into a permanent error, the health check
reports it). `dumpdata` writes the ciphertext, and `loaddata` reads it back.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query_utils import DeferredAttribute

UNDECRYPTABLE = "A stored credential cannot be decrypted with any key in CRMSYNC_ENCRYPTION_KEYS."


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
        raise DecryptionError(UNDECRYPTABLE) from None


def rotate(token: str) -> str:
    try:
        return multi_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(UNDECRYPTABLE) from None


def can_decrypt(token: str) -> bool:
    try:
        multi_fernet().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


class Ciphertext(str):
    """A value as its column holds it (a Fernet token), read from the database and not
    decrypted. Saved as it is: a row that is loaded and saved is not re-encrypted."""

    def __repr__(self) -> str:
        return "Ciphertext(...)"


_reading_stored_values: ContextVar[bool] = ContextVar("reading_stored_values", default=False)


@contextlib.contextmanager
def stored_values() -> Iterator[None]:
    """Within this block, encrypted attributes read as stored: the Ciphertext, not decrypted."""
    reset = _reading_stored_values.set(True)
    try:
        yield
    finally:
        _reading_stored_values.reset(reset)


class _DecryptOnRead(DeferredAttribute):
    """The attribute of an encrypted field: holds the loaded Ciphertext (or an assigned
    plaintext) and decrypts a Ciphertext each time it is read."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Ciphertext) and not _reading_stored_values.get():
            return decrypt(value)
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


def stored_value(instance: models.Model, field_name: str) -> Any:
    """An encrypted field's value without decrypting it: a Ciphertext, an assigned plaintext
    not saved yet, or empty."""
    with stored_values():
        return getattr(instance, field_name)


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python code reading the attribute sees the
    plaintext (decrypted on each read, see the module's docstring).

    The empty string is stored as is, so "no password" stays distinguishable and cheap.
    `values()` and `values_list()` give `Ciphertext` values; decrypt them with `decrypt`.
    Its model inherits `EncryptedFieldsModel`, so that Django's own reloading and validation
    move the stored value without decrypting it.
    """

    description = "Text encrypted at rest"
    descriptor_class = _DecryptOnRead

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return Ciphertext(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return stored_value(model_instance, self.attname)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        if isinstance(value, Ciphertext):
            return str(value)
        return encrypt(str(value))

    def value_from_object(self, obj: models.Model) -> Any:
        """The value as stored, encrypted: what `dumpdata` writes and `loaddata` reads back.

        Forms get it as initial data too; the write-only password field never shows it.
        """
        value = stored_value(obj, self.attname)
        if not value:
            return value
        if isinstance(value, Ciphertext):
            return str(value)
        return encrypt(str(value))

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


class EncryptedFieldsModel(models.Model):
    """The base of a model with encrypted fields.

    `refresh_from_db` copies values attribute by attribute, and validation (`full_clean`:
    fields, constraints) reads every one: both would decrypt. Here they see the stored
    values, so reloading or validating a row whose key is missing works, and a stored
    value, already valid, is left as it is.
    """

    class Meta:
        abstract = True

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        with stored_values():
            super().refresh_from_db(*args, **kwargs)

    def full_clean(self, *args: Any, **kwargs: Any) -> None:
        with stored_values():
            super().full_clean(*args, **kwargs)


def encrypted_fields() -> Iterator[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every installed model with encrypted fields, and those fields."""
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


def rows_with_values(manager: Any, names: list[str]) -> Any:
    """The rows where at least one of these encrypted fields is not empty."""
    return manager.filter(functools.reduce(operator.or_, (~models.Q(**{n: ""}) for n in names)))


def undecryptable_values() -> list[tuple[type[models.Model], Any, str]]:
    """(model, primary key, field name) of every stored value no configured key decrypts."""
    found: list[tuple[type[models.Model], Any, str]] = []
    for model, fields in sorted(encrypted_fields(), key=lambda pair: pair[0]._meta.label):
        names = [field.attname for field in fields]
        stored = rows_with_values(model._default_manager, names)
        for pk, *values in stored.order_by("pk").values_list("pk", *names):
            found.extend(
                (model, pk, name)
                for name, value in zip(names, values, strict=True)
                if value and not can_decrypt(value)
            )
    return found


def keep_fixture_ciphertext(sender: Any, instance: models.Model, raw: bool, **kwargs: Any) -> None:
    """`pre_save` of a model with encrypted fields: a fixture (`loaddata`) holds ciphertext.

    The deserializer assigns it as a plain string, which would be encrypted a second time;
    marked as Ciphertext, it is decrypted with the configured keys (a fixture whose key is
    missing fails to load, naming the setting) and stored encrypted with the first one.
    """
    if not raw:
        return
    for field in instance._meta.concrete_fields:
        if isinstance(field, EncryptedTextField):
            value = instance.__dict__.get(field.attname)
            if value and not isinstance(value, Ciphertext):
                instance.__dict__[field.attname] = Ciphertext(value)
