"""EWS with OAuth2 against the emulator's Entra ID: Exchange Online and modern authentication
on premises, by secret and by certificate, through the product's own account pool. The
emulator's certificate is trusted through CRMSYNC_MICROSOFT_CA_BUNDLE only (the `m365`
fixture), for the EWS requests as for the tokens."""

from __future__ import annotations

import uuid

import pytest

from activities.models import Appointment
from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from ews_emulator.identity import GRAPH_ROLES
from mailboxes.connectors import ErrorKind, PermanentSyncError
from mailboxes.connectors.ews import account_for, exchange_errors
from mailboxes.connectors.graph import tokens
from mailboxes.connectors.settings import ews_settings
from mailboxes.models import ExchangeSyncIdMapping, FolderSyncState
from mailboxes.sync import testing as enabling
from tests.conftest import M365
from tests.factories import make_contact, make_user
from tests.graph_support import PASSWORD, SECRET
from tests.sync.helpers import sync

pytestmark = pytest.mark.e2e


def ews_profile_fields(m365: M365, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "server_type": "exchange_online",
        "incoming_server_location": m365.tenant.ews_url,
        "graph_endpoint": "https://graph.microsoft.com/v1.0",
    }
    values.update(fields)
    return values


def inbox_count(m365: M365, **fields: object) -> int:
    profile = m365.profile(**ews_profile_fields(m365, **fields))
    mailbox = m365.mailbox(profile)
    m365.tenant.control.deliver(
        mailbox.email_address, "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    )
    with exchange_errors():
        return int(account_for(mailbox).inbox.total_count)


def test_exchange_online_by_client_secret(m365: M365) -> None:
    assert inbox_count(m365) == 1


def test_exchange_online_by_certificate(m365: M365) -> None:
    tenant = m365.tenant
    count = inbox_count(
        m365,
        oauth_client_id="app-cert",
        oauth_client_secret="",
        oauth_private_key=tenant.private_key_pem(),
        oauth_certificate=tenant.certificate_pem(),
    )
    assert count == 1


def test_on_premises_modern_authentication(m365: M365) -> None:
    count = inbox_count(
        m365,
        server_type="exchange",
        incoming_authentication_protocol="oauth",
        oauth_resource="https://outlook.office365.com",
    )
    assert count == 1


def test_an_application_without_full_access_as_app_is_refused(m365: M365) -> None:
    with pytest.raises(PermanentSyncError) as refused:
        inbox_count(m365, oauth_client_id="app-mail")
    assert refused.value.kind is ErrorKind.AUTHENTICATION


def test_a_wrong_secret_says_so(m365: M365) -> None:
    with pytest.raises(PermanentSyncError) as refused:
        inbox_count(m365, oauth_client_secret=PASSWORD)
    assert refused.value.code == "wrong_client_secret"


def own_application(m365: M365) -> str:
    """An application of this test alone (its tokens are revoked), with every role."""
    client_id = f"app-{uuid.uuid4().hex[:8]}"
    m365.tenant.control.register_app(client_id, secret=SECRET)
    return client_id


def test_a_revoked_token_is_replaced_once_by_a_new_one(m365: M365) -> None:
    client_id = own_application(m365)
    profile = m365.profile(**ews_profile_fields(m365, oauth_client_id=client_id))
    mailbox = m365.mailbox(profile)
    with exchange_errors():
        account_for(mailbox).inbox.refresh()
    app = ews_settings(mailbox).oauth
    assert app is not None
    scope = ews_settings(mailbox).oauth_scope
    cached = tokens.access_token(app, scope)

    m365.tenant.control.revoke_tokens(client_id)
    m365.tenant.control.deliver(
        mailbox.email_address, "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    )

    with exchange_errors():
        assert account_for(mailbox).inbox.total_count == 1
    replacement = tokens.access_token(app, scope)
    assert replacement != cached

    # The new token, once accepted, is replaced like any other when revoked in its turn.
    m365.tenant.control.revoke_tokens(client_id)
    with exchange_errors():
        assert account_for(mailbox).inbox.total_count == 1
    assert tokens.access_token(app, scope) not in (cached, replacement)


def test_a_new_token_refused_too_is_an_authentication_failure(m365: M365) -> None:
    client_id = own_application(m365)
    mailbox = m365.mailbox(m365.profile(**ews_profile_fields(m365, oauth_client_id=client_id)))
    with exchange_errors():
        account_for(mailbox).inbox.refresh()
    # The application loses EWS access: its cached token is revoked, a new one lacks the role.
    m365.tenant.control.register_app(client_id, secret=SECRET, roles=list(GRAPH_ROLES))
    m365.tenant.control.revoke_tokens(client_id)

    with pytest.raises(PermanentSyncError) as refused, exchange_errors():
        account_for(mailbox).inbox.refresh()

    assert refused.value.kind is ErrorKind.AUTHENTICATION


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {
            "server_type": "exchange",
            "incoming_authentication_protocol": "oauth",
            "oauth_resource": "https://outlook.office365.com",
        },
    ],
    ids=["exchange_online", "on_premises_modern_authentication"],
)
@pytest.mark.django_db
def test_test_and_enable_then_a_cycle_sync_both_ways_over_ews_with_oauth2(
    m365: M365, fields: dict[str, object]
) -> None:
    # given a mailbox of an EWS profile that signs in with the application's token
    profile = m365.profile(**ews_profile_fields(m365, **fields))
    email = m365.tenant.new_mailbox_address()
    mailbox = m365.mailbox(
        profile,
        email=email,
        user=make_user(email=email),
        incoming_delivery_method=DeliveryMethod.NONE,
        outgoing_delivery_method=OutgoingDeliveryMethod.NONE,
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
    )
    control = m365.tenant.control
    control.seed(email, "calendar", 2)
    # when test & enable runs, then a cycle
    result = enabling.test_and_enable(mailbox)
    assert result.status == "success", result.message
    sync(mailbox)
    # then Outlook's appointments are records, read over EWS
    assert Appointment.objects.filter(owner_user=mailbox.user).count() == 2
    protocols = set(
        FolderSyncState.objects.filter(mailbox=mailbox).values_list("protocol", flat=True)
    )
    assert protocols == {"ews"}
    # and a contact made in the CRM is written to the mailbox by the next cycle
    contact = make_contact(mailbox.user, first_name="Grace", last_name="Hopper")
    sync(mailbox)
    subjects = [str(item["subject"]) for item in control.items(email, "contacts")]
    assert subjects == ["Hopper, Grace"]  # Outlook files it as "Last, First"
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, crm_object_id=contact.pk).exists()
