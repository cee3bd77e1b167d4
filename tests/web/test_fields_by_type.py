"""The one definition of the mailbox fields each server type shows, without a server (and,
but for the last test, without a database): what the self-service form and the admin's form
both read, and both show alike."""

from __future__ import annotations

import pytest

from mailboxes import fields_by_type
from mailboxes.admin import mailbox_form
from mailboxes.web.forms import MailboxSettingsForm
from profiles.models import EmailServerProfile
from tests import factories

ServerType = EmailServerProfile.ServerType
PER_MAILBOX = EmailServerProfile.CredentialRetrieval.PER_MAILBOX
CREDENTIALS = {"username", "password", "clear_password"}
ACT = {"act_delivery_method", "send_invitations"}


def profile(server_type: str, **fields: object) -> EmailServerProfile:
    return EmailServerProfile(
        server_type=server_type,
        incoming_credential_retrieval=PER_MAILBOX,
        outgoing_credential_retrieval=PER_MAILBOX,
        **fields,
    )


@pytest.mark.parametrize(
    ("server_type", "user_mailbox"),
    [
        (ServerType.EXCHANGE, CREDENTIALS | ACT),
        (ServerType.EXCHANGE_ONLINE, ACT),
        (ServerType.MICROSOFT_365, ACT),
        (ServerType.POP3_SMTP, CREDENTIALS | {"process_and_delete"}),
        (ServerType.IMAP_SMTP, CREDENTIALS),
    ],
)
def test_each_server_type_shows_its_fields_and_a_queue_never_appointments(
    server_type: str, user_mailbox: set[str]
) -> None:
    shown = fields_by_type.fields_shown(profile(server_type), is_queue=False)
    assert shown == user_mailbox
    assert fields_by_type.fields_shown(profile(server_type), is_queue=True) == user_mailbox - ACT
    assert fields_by_type.lists_folders(profile(server_type)) == bool(user_mailbox & ACT)


def test_an_exchange_server_signing_in_with_oauth_takes_no_mailbox_credentials() -> None:
    oauth = profile(ServerType.EXCHANGE, incoming_authentication_protocol="oauth")
    assert fields_by_type.fields_shown(oauth, is_queue=False) == ACT


def test_credentials_from_the_profile_are_not_asked_of_the_mailbox() -> None:
    shared = profile(ServerType.IMAP_SMTP)
    shared.incoming_credential_retrieval = EmailServerProfile.CredentialRetrieval.PROFILE
    shared.outgoing_credential_retrieval = EmailServerProfile.CredentialRetrieval.PROFILE
    assert fields_by_type.fields_shown(shared, is_queue=False) == set()


def test_no_profile_shows_none_of_them_and_only_microsoft_365_adds_help() -> None:
    assert fields_by_type.fields_shown(None, is_queue=False) == set()
    assert not fields_by_type.lists_folders(None)
    assert set(fields_by_type.help_texts(profile(ServerType.MICROSOFT_365))) == {"send_invitations"}
    assert fields_by_type.help_texts(profile(ServerType.EXCHANGE)) == {}


@pytest.mark.django_db
@pytest.mark.parametrize("server_type", ServerType.values)
@pytest.mark.parametrize("is_queue", [False, True])
def test_the_self_service_form_and_the_admin_form_show_the_same_fields(
    server_type: str, is_queue: bool
) -> None:
    on = factories.make_profile(server_type=server_type)
    owner = {"queue": factories.make_queue(factories.make_user())} if is_queue else {}
    mailbox = factories.make_mailbox(profile=on, **owner)
    shown = fields_by_type.fields_shown(on, is_queue=is_queue)

    self_service = set(MailboxSettingsForm(instance=mailbox).fields) & fields_by_type.SPECIFIC
    admin_left_out = mailbox_form.left_out_for(on, is_queue=is_queue)

    assert self_service == shown
    assert fields_by_type.SPECIFIC - admin_left_out == shown
