"""Credentials are encrypted at rest with their own rotatable keys."""

from collections.abc import Callable
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from crmsync.crypto import DecryptionError
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.foundation.raw_sql import raw_column

SECRET = "Winter2026!-not-in-the-db"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()

UseKeys = Callable[..., None]


def rotate() -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


def test_password_reads_back_as_stored(db: None) -> None:
    mailbox = factories.make_mailbox(password=SECRET)

    assert Mailbox.objects.get(pk=mailbox.pk).password == SECRET


def test_database_column_does_not_hold_the_plaintext(db: None) -> None:
    profile = factories.make_profile(incoming_password=SECRET, outgoing_password=SECRET)

    raw_values = [
        raw_column(EmailServerProfile, "incoming_password", profile.pk),
        raw_column(EmailServerProfile, "outgoing_password", profile.pk),
    ]

    assert all(SECRET not in raw for raw in raw_values)
    # Fernet tokens: the same plaintext encrypts differently every time.
    assert raw_values[0] != raw_values[1]


def test_empty_password_is_stored_empty(db: None) -> None:
    mailbox = factories.make_mailbox(password="")

    assert raw_column(Mailbox, "password", mailbox.pk) == ""


def test_column_is_encrypted_with_the_first_key(db: None, encryption_keys: UseKeys) -> None:
    encryption_keys(NEW_KEY, OLD_KEY)

    mailbox = factories.make_mailbox(password=SECRET)

    token = raw_column(Mailbox, "password", mailbox.pk).encode()
    assert Fernet(NEW_KEY.encode()).decrypt(token).decode() == SECRET


def test_value_written_with_an_older_key_still_reads(db: None, encryption_keys: UseKeys) -> None:
    encryption_keys(OLD_KEY)
    mailbox = factories.make_mailbox(password=SECRET)

    encryption_keys(NEW_KEY, OLD_KEY)

    assert Mailbox.objects.get(pk=mailbox.pk).password == SECRET


def test_rotation_re_encrypts_every_stored_credential_with_the_first_key(
    db: None, encryption_keys: UseKeys
) -> None:
    # given credentials written with the old key
    encryption_keys(OLD_KEY)
    mailbox = factories.make_mailbox(password=SECRET)
    profile = factories.make_profile(incoming_password="profile-pw")

    # when a new key is put first and the rotation runs
    encryption_keys(NEW_KEY, OLD_KEY)
    output = rotate()

    # then the new key alone decrypts every column
    new = Fernet(NEW_KEY.encode())
    assert new.decrypt(raw_column(Mailbox, "password", mailbox.pk).encode()) == SECRET.encode()
    assert (
        new.decrypt(raw_column(EmailServerProfile, "incoming_password", profile.pk).encode())
        == b"profile-pw"
    )
    assert "mailboxes.Mailbox: re-encrypted 1 row(s)" in output
    assert "profiles.EmailServerProfile: re-encrypted 1 row(s)" in output


def test_old_key_can_be_removed_after_rotation(db: None, encryption_keys: UseKeys) -> None:
    encryption_keys(OLD_KEY)
    mailbox = factories.make_mailbox(password=SECRET)
    encryption_keys(NEW_KEY, OLD_KEY)
    rotate()

    encryption_keys(NEW_KEY)

    assert Mailbox.objects.get(pk=mailbox.pk).password == SECRET


def test_without_the_old_key_a_value_cannot_be_read(db: None, encryption_keys: UseKeys) -> None:
    encryption_keys(OLD_KEY)
    mailbox = factories.make_mailbox(password=SECRET)

    encryption_keys(NEW_KEY)

    # The row loads (pages that do not show the password work); reading it fails.
    loaded = Mailbox.objects.get(pk=mailbox.pk)
    with pytest.raises(DecryptionError, match="CRMSYNC_ENCRYPTION_KEYS"):
        _ = loaded.password


def test_rotation_stops_with_a_clear_message_when_a_key_is_missing(
    db: None, encryption_keys: UseKeys
) -> None:
    # given a credential written with a key that is no longer configured
    encryption_keys(OLD_KEY)
    mailbox = factories.make_mailbox(password=SECRET)
    before = raw_column(Mailbox, "password", mailbox.pk)
    encryption_keys(NEW_KEY)

    with pytest.raises(CommandError, match="cannot be decrypted") as raised:
        rotate()

    # then the message names the model and the setting, and the row is unchanged
    assert "mailboxes.Mailbox" in str(raised.value)
    assert "CRMSYNC_ENCRYPTION_KEYS" in str(raised.value)
    assert raw_column(Mailbox, "password", mailbox.pk) == before


def test_rotation_in_batches_re_encrypts_every_row(
    db: None, encryption_keys: UseKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "crmsync.management.commands.rotate_encryption_keys.BATCH_ROWS", 2, raising=True
    )
    encryption_keys(OLD_KEY)
    mailboxes = [factories.make_mailbox(password=f"{SECRET}-{n}") for n in range(5)]
    encryption_keys(NEW_KEY, OLD_KEY)

    output = rotate()

    new = Fernet(NEW_KEY.encode())
    for n, mailbox in enumerate(mailboxes):
        token = raw_column(Mailbox, "password", mailbox.pk).encode()
        assert new.decrypt(token).decode() == f"{SECRET}-{n}"
    assert "mailboxes.Mailbox: re-encrypted 5 row(s)" in output
