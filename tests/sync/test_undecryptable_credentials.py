"""A mailbox whose stored credentials no configured key decrypts stops with a permanent error
that names the problem (and never the secret), in the sync and in the mail channels alike."""

from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet

from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.settings import imap_settings, smtp_settings
from mailboxes.models import Alert, Mailbox
from profiles.models import EmailServerProfile
from tests.sync.helpers import act_mailbox, exchange_profile, sync

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()

UseKeys = Callable[..., None]


def test_sync_stops_with_a_permanent_error_naming_the_mailbox_and_the_setting(
    db: None, encryption_keys: UseKeys
) -> None:
    # given a mailbox whose password was encrypted with a key that has since been replaced
    encryption_keys(OLD_KEY)
    mailbox = act_mailbox(exchange_profile(), password="secret-of-the-old-key")
    encryption_keys(NEW_KEY)

    result = sync(mailbox, allow_error=True)

    # then the cycle stops for good, saying what is wrong and what to do
    assert result.error is not None
    assert isinstance(result.error, PermanentSyncError)
    assert result.error.code == "undecryptable_credentials"
    message = result.error.message
    assert mailbox.email_address in message
    assert "CRMSYNC_ENCRYPTION_KEYS" in message
    assert "secret-of-the-old-key" not in message
    assert mailbox.act_status == Mailbox.ChannelStatus.FAILURE
    assert mailbox.next_due_at is None
    assert mailbox.last_error_code == "undecryptable_credentials"
    alert = Alert.objects.get(mailbox=mailbox)
    assert "CRMSYNC_ENCRYPTION_KEYS" in alert.message


def test_a_service_account_password_names_the_profile(db: None, encryption_keys: UseKeys) -> None:
    encryption_keys(OLD_KEY)
    profile = exchange_profile(
        name="Exchange Online",
        incoming_use_impersonation=True,
        incoming_credential_retrieval=EmailServerProfile.CredentialRetrieval.PROFILE,
        incoming_username="svc@example.com",
        incoming_password="service-secret",
    )
    mailbox = act_mailbox(profile)
    encryption_keys(NEW_KEY)

    result = sync(mailbox, allow_error=True)

    assert result.error is not None
    assert result.error.code == "undecryptable_credentials"
    assert "Exchange Online" in result.error.message
    assert "incoming password" in result.error.message


@pytest.mark.parametrize("settings_of", [imap_settings, smtp_settings], ids=["imap", "smtp"])
def test_mail_server_settings_raise_the_same_error(
    db: None, encryption_keys: UseKeys, settings_of: Callable[[Mailbox], object]
) -> None:
    encryption_keys(OLD_KEY)
    mailbox = act_mailbox(
        exchange_profile(server_type=EmailServerProfile.ServerType.IMAP_SMTP, incoming_port=993)
    )
    encryption_keys(NEW_KEY)

    with pytest.raises(PermanentSyncError) as raised:
        settings_of(Mailbox.objects.select_related("profile").get(pk=mailbox.pk))

    assert raised.value.code == "undecryptable_credentials"
    assert mailbox.email_address in raised.value.message
