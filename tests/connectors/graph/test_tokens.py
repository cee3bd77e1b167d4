"""App-only tokens are cached per application and worker process, whatever the number of
profiles and mailboxes, and replaced before they expire (`connectors/graph/tokens.py`, with
msal), against the emulator's Entra ID token endpoint."""

from __future__ import annotations

import time

from mailboxes.connectors.graph import tokens
from mailboxes.connectors.graph.client import GraphClient, graph_scope
from mailboxes.connectors.settings import graph_settings
from tests.conftest import M365
from tests.connectors.test_ews_oauth import own_application as new_application


def test_one_token_serves_every_mailbox_of_the_application(m365: M365) -> None:
    # given two profiles of one application, with three mailboxes
    client_id = new_application(m365)
    first, second = (m365.profile(oauth_client_id=client_id) for _ in range(2))
    mailboxes = [m365.mailbox(first), m365.mailbox(first), m365.mailbox(second)]
    # when each mailbox's client (as each cycle makes its own) calls Graph twice
    for mailbox in mailboxes:
        for _ in range(2):
            client = GraphClient(graph_settings(mailbox.profile, mailbox))
            assert client.get("mailFolders/inbox")["displayName"] == "Inbox"
    # then Entra ID was asked once
    assert m365.tenant.control.tokens_issued()[client_id] == 1


def test_a_token_is_replaced_before_it_expires(m365: M365) -> None:
    control = m365.tenant.control
    client_id = new_application(m365)
    profile = m365.profile(oauth_client_id=client_id)
    mailbox = m365.mailbox(profile)
    app = graph_settings(profile, mailbox).app
    scope = graph_scope(profile.graph_endpoint)
    # given tokens that live 4 minutes: always inside the margin kept before expiry
    control.set_token_lifetime(240)
    try:
        held = tokens.access_token(app, scope)
        # when the cached token is asked for again, minutes before its expiry
        again = tokens.access_token(app, scope)
    finally:
        control.set_token_lifetime(3599)
    # then a new one was fetched while the old was still valid, and Graph takes it
    assert again != held
    assert tokens.token_claims(held)["exp"] > time.time() + 60
    assert control.tokens_issued()[client_id] == 2
    client = GraphClient(graph_settings(profile, mailbox))
    assert client.get("mailFolders/inbox")["displayName"] == "Inbox"
    # and a token of the normal lifetime is kept: the next ask is answered from the cache
    assert tokens.access_token(app, scope) == tokens.access_token(app, scope)
    assert control.tokens_issued()[client_id] == 3
