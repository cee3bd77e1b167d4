"""`mailboxes/connectors/registry.py`: which implementation of each interface a server type
gets (the ACT connector, test & enable, the folder listing, the push listener), and the
refusals where a protocol offers none. No server is reached: nothing is called but the
registry."""

from __future__ import annotations

import pytest

from mailboxes import channels
from mailboxes.connectors import PermanentSyncError, registry
from mailboxes.connectors.ews import listing as ews_listing
from mailboxes.connectors.ews import push as ews_push
from mailboxes.connectors.ews.connector import EwsMailboxConnector
from mailboxes.connectors.ews.connector import check_channels as check_ews
from mailboxes.connectors.graph import listing as graph_listing
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.connectors.graph.probe import check_application
from mailboxes.connectors.graph.probe import check_channels as check_graph
from mailboxes.connectors.pop3_imap import check_imap, check_pop3
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile

ServerType = EmailServerProfile.ServerType
EXCHANGE_TYPES = (ServerType.EXCHANGE, ServerType.EXCHANGE_ONLINE)
MAIL_TYPES = (ServerType.POP3_SMTP, ServerType.IMAP_SMTP)


def _mailbox(server_type: str | None) -> Mailbox:
    """An unsaved mailbox on an unsaved profile of this server type (None: no profile)."""
    profile = None if server_type is None else EmailServerProfile(server_type=server_type)
    return Mailbox(profile=profile, email_address="someone@example.com")


def test_every_server_type_has_a_protocol() -> None:
    assert set(registry.PROTOCOLS) == set(ServerType.values)


@pytest.mark.parametrize("server_type", EXCHANGE_TYPES)
def test_exchange_profiles_use_ews_for_everything(server_type: str) -> None:
    protocol = registry.protocol_of(_mailbox(server_type).profile)

    assert protocol is registry.EWS
    assert protocol.tester is check_ews
    assert protocol.connector == EwsMailboxConnector.for_mailbox
    assert registry.folder_lister(_mailbox(server_type)) is ews_listing.list_inbox_folders
    contacts = registry.contact_folder_lister(_mailbox(server_type))
    assert contacts is ews_listing.list_contact_folders
    assert protocol.push_listener is ews_push.listen
    assert protocol.profile_tester is None


def test_microsoft_365_profiles_use_graph_and_are_pushed_by_webhooks() -> None:
    protocol = registry.protocol_of(_mailbox(ServerType.MICROSOFT_365).profile)

    assert protocol.tester is check_graph
    assert protocol.connector == GraphMailboxConnector.for_mailbox
    lister = registry.folder_lister(_mailbox(ServerType.MICROSOFT_365))
    assert lister is graph_listing.list_inbox_folders
    contacts = registry.contact_folder_lister(_mailbox(ServerType.MICROSOFT_365))
    assert contacts is graph_listing.list_contact_folders
    assert protocol.push_listener is None
    assert protocol.profile_tester is check_application


@pytest.mark.parametrize(
    ("server_type", "tester"),
    [(ServerType.POP3_SMTP, check_pop3), (ServerType.IMAP_SMTP, check_imap)],
)
def test_pop3_and_imap_profiles_are_tested_and_offer_nothing_else(
    server_type: str, tester: object
) -> None:
    mailbox = _mailbox(server_type)
    protocol = registry.protocol_of(mailbox.profile)

    assert protocol.tester is tester
    assert (protocol.connector, protocol.push_listener, protocol.profile_tester) == (None,) * 3
    for list_folders in (registry.folder_lister, registry.contact_folder_lister):
        with pytest.raises(PermanentSyncError) as listing:
            list_folders(mailbox)
        assert listing.value.code == "not_exchange"
        assert "Exchange and Microsoft 365 mailboxes only" in listing.value.message
    with pytest.raises(PermanentSyncError) as act:
        registry.for_mailbox(mailbox)
    assert act.value.code == "no_act_protocol"


def test_a_mailbox_without_a_profile_is_refused_clearly() -> None:
    mailbox = _mailbox(None)

    for ask in (registry.for_mailbox, registry.folder_lister, registry.contact_folder_lister):
        with pytest.raises(PermanentSyncError) as refused:
            ask(mailbox)
        assert refused.value.code == "no_profile"


def test_the_listener_listens_to_exchange_mailboxes_only() -> None:
    listened = registry.server_types_where(lambda protocol: protocol.push_listener)

    assert sorted(listened) == sorted(channels.EXCHANGE_SERVER_TYPES)


def test_appointments_contacts_and_tasks_have_a_connector_where_the_channel_is_offered() -> None:
    with_connector = registry.server_types_where(lambda protocol: protocol.connector)

    assert sorted(with_connector) == sorted(channels.ACT_SERVER_TYPES)
