"""`dumpdata` writes stored credentials encrypted, and `loaddata` reads them back."""

import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from crmsync.crypto import DecryptionError
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.foundation.raw_sql import raw_column

SECRET = "Dump-me-not-4711"
PROFILE_SECRET = "Service-account-0815"

UseKeys = Callable[..., None]


def dump(*labels: str, output_format: str = "json") -> str:
    out = StringIO()
    call_command("dumpdata", *labels, format=output_format, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_dumpdata_writes_the_ciphertext_not_the_password(db: None, output_format: str) -> None:
    mailbox = factories.make_mailbox(password=SECRET)
    profile = factories.make_profile(incoming_password=PROFILE_SECRET)

    output = dump("mailboxes.mailbox", "profiles.emailserverprofile", output_format=output_format)

    assert SECRET not in output
    assert PROFILE_SECRET not in output
    assert raw_column(Mailbox, "password", mailbox.pk) in output
    assert raw_column(EmailServerProfile, "incoming_password", profile.pk) in output


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_loaddata_reads_a_dump_back(db: None, tmp_path: Path, output_format: str) -> None:
    # given a dump of a mailbox and a profile
    mailbox = factories.make_mailbox(password=SECRET)
    profile = factories.make_profile(incoming_password=PROFILE_SECRET)
    fixture = tmp_path / f"credentials.{output_format}"
    fixture.write_text(
        dump("mailboxes.mailbox", "profiles.emailserverprofile", output_format=output_format)
    )
    # and the rows changed since
    Mailbox.objects.filter(pk=mailbox.pk).update(password="changed")
    profile_id = profile.pk
    profile.delete()

    call_command("loaddata", str(fixture), verbosity=0)

    assert Mailbox.objects.get(pk=mailbox.pk).password == SECRET
    assert EmailServerProfile.objects.get(pk=profile_id).incoming_password == PROFILE_SECRET
    assert SECRET not in raw_column(Mailbox, "password", mailbox.pk)


def test_empty_passwords_stay_empty_through_a_dump(db: None, tmp_path: Path) -> None:
    mailbox = factories.make_mailbox(password="")
    fixture = tmp_path / "empty.json"
    fixture.write_text(dump("mailboxes.mailbox"))
    rows = json.loads(fixture.read_text())

    call_command("loaddata", str(fixture), verbosity=0)

    assert [row["fields"]["password"] for row in rows] == [""]
    assert raw_column(Mailbox, "password", mailbox.pk) == ""


def test_loading_a_dump_whose_key_is_gone_fails_naming_the_setting(
    db: None, tmp_path: Path, encryption_keys: UseKeys
) -> None:
    encryption_keys(Fernet.generate_key().decode())
    mailbox = factories.make_mailbox(password=SECRET)
    fixture = tmp_path / "old-key.json"
    fixture.write_text(dump("mailboxes.mailbox"))
    before = raw_column(Mailbox, "password", mailbox.pk)
    Mailbox.objects.filter(pk=mailbox.pk).update(password="changed")
    changed = raw_column(Mailbox, "password", mailbox.pk)

    encryption_keys(Fernet.generate_key().decode())
    with pytest.raises(DecryptionError, match="CRMSYNC_ENCRYPTION_KEYS"):
        call_command("loaddata", str(fixture), verbosity=0)

    assert raw_column(Mailbox, "password", mailbox.pk) == changed != before
