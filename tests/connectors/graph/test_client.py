"""The Graph client against the emulator's Entra ID and Graph: the contract the Graph channels
use, and every error mapping (faults injected through the emulator's control API)."""

from __future__ import annotations

import pytest

from mailboxes.connectors import ErrorKind, PermanentSyncError, TransientSyncError
from mailboxes.connectors.base import ItemConflictError
from mailboxes.connectors.graph import tokens
from mailboxes.connectors.graph.act import seam_error
from mailboxes.connectors.graph.client import BatchRequest, GraphClient
from mailboxes.connectors.graph.errors import DeltaTokenLost, ItemNotFound, error_for
from mailboxes.connectors.settings import graph_settings
from tests import factories
from tests.conftest import M365
from tests.graph_support import graph_profile_fields

pytestmark = pytest.mark.e2e


def client_for(m365: M365, **profile_fields: object) -> tuple[GraphClient, str]:
    profile = m365.profile(**profile_fields)
    mailbox = m365.mailbox(profile)
    return GraphClient(graph_settings(profile, mailbox)), mailbox.email_address


def deliver(m365: M365, email: str, subject: str) -> None:
    mime = f"From: bob@example.org\r\nTo: {email}\r\nSubject: {subject}\r\n\r\nHello\r\n"
    m365.tenant.control.deliver(email, mime)


def test_get_post_patch_delete_and_immutable_ids(m365: M365) -> None:
    client, email = client_for(m365)
    deliver(m365, email, "first")
    inbox = client.get("mailFolders/inbox")
    assert inbox["totalItemCount"] == 1
    listed = client.get("mailFolders/inbox/messages", params={"$select": "subject"})
    message = listed["value"][0]
    assert message["subject"] == "first"
    # Immutable ids were asked for: the id survives a move to another folder.
    moved = client.post(f"messages/{message['id']}/move", {"destinationId": "deleteditems"})
    assert moved is not None and moved["id"] == message["id"]
    patched = client.patch(f"messages/{message['id']}", {"isRead": True})
    assert patched["isRead"] is True
    raw = client.get_bytes(f"messages/{message['id']}/$value")
    assert b"Subject: first" in raw
    client.delete(f"messages/{message['id']}")
    assert client.get("mailFolders/deleteditems/messages")["value"] == []
    with pytest.raises(ItemNotFound) as lost:
        client.get("messages/AAMkAGNoSuchMessage")
    assert lost.value.kind is ErrorKind.REFUSED and not lost.value.affects_mailbox


def test_pages_follow_next_links(m365: M365) -> None:
    client, email = client_for(m365)
    for n in range(5):
        deliver(m365, email, f"m{n}")
    pages = list(client.pages("mailFolders/inbox/messages", params={"$top": "2"}))
    assert [len(p["value"]) for p in pages] == [2, 2, 1]
    subjects = {m["subject"] for m in client.items("mailFolders/inbox/messages")}
    assert subjects == {f"m{n}" for n in range(5)}


def test_delta_pages_then_changes_and_removals(m365: M365) -> None:
    client, email = client_for(m365)
    for n in range(3):
        deliver(m365, email, f"d{n}")
    pages = list(client.delta("mailFolders/inbox/messages/delta", page_size=2))
    assert [len(p.items) for p in pages] == [2, 1]
    assert pages[0].next_link and not pages[0].delta_link
    assert pages[-1].delta_link and not pages[-1].next_link
    first = pages[0].items[0]["id"]
    client.delete(f"messages/{first}")
    deliver(m365, email, "new")
    (after,) = list(client.delta(pages[-1].delta_link))
    assert after.removed == [first]
    assert [m["subject"] for m in after.items] == ["new"]


def test_a_lost_delta_token_is_its_own_error(m365: M365) -> None:
    client, email = client_for(m365)
    (page,) = list(client.delta("mailFolders/inbox/messages/delta"))
    assert page.delta_link
    m365.tenant.control.inject_graph_fault("graph_410", path="messages/delta", mailbox=email)
    with pytest.raises(DeltaTokenLost) as lost:
        list(client.delta(page.delta_link))
    assert not lost.value.permanent


def test_a_delta_link_of_another_host_is_lost_not_followed(m365: M365) -> None:
    client, _ = client_for(m365)
    with pytest.raises(DeltaTokenLost):
        list(client.delta("https://graph.example.net/v1.0/users/x/messages/delta?$deltatoken=1"))
    with pytest.raises(PermanentSyncError) as refused:
        client.get("https://graph.example.net/v1.0/users/x/messages")
    assert refused.value.code == "foreign_url"


@pytest.mark.parametrize("kind", ["graph_429", "graph_503"])
def test_throttling_postpones_by_retry_after(m365: M365, kind: str) -> None:
    client, email = client_for(m365)
    m365.tenant.control.inject_graph_fault(kind, mailbox=email, retry_after=7)
    with pytest.raises(TransientSyncError) as busy:
        client.get("mailFolders/inbox")
    assert busy.value.kind is ErrorKind.THROTTLED
    assert busy.value.retry_after == 7
    assert client.get("mailFolders/inbox")["displayName"] == "Inbox"


def test_a_refused_token_is_renewed_once(m365: M365) -> None:
    client, email = client_for(m365)
    client.get("mailFolders/inbox")
    m365.tenant.control.inject_graph_fault("graph_401", mailbox=email)
    assert client.get("mailFolders/inbox")["displayName"] == "Inbox"  # a new token, again
    m365.tenant.control.inject_graph_fault("graph_401", mailbox=email, count=2)
    with pytest.raises(PermanentSyncError) as refused:
        client.get("mailFolders/inbox")
    assert refused.value.kind is ErrorKind.AUTHENTICATION


def test_a_missing_role_is_named(m365: M365) -> None:
    client, _ = client_for(m365, oauth_client_id="app-mail")
    assert client.get("mailFolders/inbox")["displayName"] == "Inbox"
    with pytest.raises(PermanentSyncError) as denied:
        client.get("contacts")
    assert denied.value.kind is ErrorKind.AUTHENTICATION
    assert denied.value.code == "missing_role"
    assert "Contacts.ReadWrite" in denied.value.message


def test_a_mailbox_outside_the_application_scope(m365: M365) -> None:
    profile = m365.profile(oauth_client_id="app-scoped")
    inside = m365.mailbox(profile, email="scoped@example.com")
    assert GraphClient(graph_settings(profile, inside)).get("mailFolders/inbox")
    outside = m365.mailbox(profile)
    with pytest.raises(PermanentSyncError) as denied:
        GraphClient(graph_settings(profile, outside)).get("mailFolders/inbox")
    assert denied.value.code == "mailbox_out_of_scope"
    assert "application access policy" in denied.value.message


def test_a_mailbox_that_does_not_exist(m365: M365) -> None:
    profile = m365.profile()
    mailbox = m365.mailbox(profile, email="nobody-here@example.com")
    with pytest.raises(PermanentSyncError) as missing:
        GraphClient(graph_settings(profile, mailbox)).get("mailFolders/inbox")
    assert missing.value.kind is ErrorKind.MAILBOX_NOT_FOUND


def test_network_errors_are_transient(m365: M365) -> None:
    with pytest.raises(TransientSyncError) as unreachable:
        GraphClient(
            graph_settings(
                m365.profile(graph_endpoint="https://127.0.0.1:9/v1.0"),
                m365.mailbox(),
            )
        ).get("mailFolders/inbox")
    assert unreachable.value.kind is ErrorKind.NETWORK
    assert unreachable.value.code == "connection_refused"


def test_wrong_secret_and_certificate(m365: M365) -> None:
    client, _ = client_for(m365, oauth_client_secret="not-the-secret")
    with pytest.raises(PermanentSyncError) as wrong:
        client.get("mailFolders/inbox")
    assert wrong.value.code == "wrong_client_secret"
    assert "not-the-secret" not in wrong.value.message
    tenant = m365.tenant
    by_cert, _ = client_for(
        m365,
        oauth_client_id="app-cert",
        oauth_client_secret="",
        oauth_private_key=tenant.private_key_pem(),
        oauth_certificate_thumbprint=tenant.thumbprint(),
    )
    assert by_cert.get("mailFolders/inbox")["displayName"] == "Inbox"


def test_batch_in_chunks_of_twenty(m365: M365) -> None:
    client, email = client_for(m365)
    deliver(m365, email, "b")
    requests = [BatchRequest(str(n), "GET", "mailFolders/inbox") for n in range(25)]
    requests.append(BatchRequest("gone", "GET", "messages/AAMkNoSuchItem"))
    answers = client.batch(requests)
    assert [a.id for a in answers] == [r.id for r in requests]
    assert all(a.ok and a.body["totalItemCount"] == 1 for a in answers[:25])
    assert isinstance(client.error_of(answers[-1], "messages/AAMkNoSuchItem"), Exception)
    assert not answers[-1].ok


def test_no_secret_or_token_in_logs(m365: M365, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    client, _ = client_for(m365)
    client.get("mailFolders/inbox")
    token = tokens.access_token(client.settings.app, client.scope)
    assert token not in caplog.text
    assert "s3cret" not in caplog.text
    assert "s3cret" not in repr(client.settings)


def test_delta_token_lost_is_the_seams_cursor_lost() -> None:
    from mailboxes.connectors.base import CursorLostError

    lost = DeltaTokenLost("gone")
    assert isinstance(lost, CursorLostError) and isinstance(lost, TransientSyncError)
    assert lost.code == "delta_token_lost" and lost.retry_after is None


def test_an_unreadable_private_key_is_permanent(m365: M365) -> None:
    # A profile no form or code saves active (the key is checked): as the database may hold one.
    profile = factories.make_broken_profile(
        **graph_profile_fields(
            m365.tenant,
            oauth_client_id="app-cert",
            oauth_client_secret="",
            oauth_private_key="-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
            oauth_certificate_thumbprint="ab" * 20,
        )
    )
    client = GraphClient(graph_settings(profile, m365.mailbox(profile)))
    with pytest.raises(PermanentSyncError) as refused:
        client.get("mailFolders/inbox")
    assert refused.value.code == "bad_certificate"


@pytest.mark.parametrize(
    ("status", "code"), [(409, "ErrorIrresolvableConflict"), (412, "PreconditionFailed")]
)
def test_an_outlook_change_key_conflict_is_the_seams_conflict(status: int, code: str) -> None:
    """Graph documents no If-Match for these updates, but Outlook may answer a stale change
    key as EWS does: the item is refused as changed on the server, not as a bad request."""
    body = {"error": {"code": code, "message": "The change key does not match."}}
    error = error_for(status, {}, body, mailbox="ann@example.org", path="contacts/AAMk")
    assert isinstance(seam_error(error), ItemConflictError)
    other = error_for(400, {}, {"error": {"code": "BadRequest"}}, mailbox="a@b.c", path="x")
    assert not isinstance(seam_error(other), ItemConflictError)


def test_the_requests_of_a_batch_ask_for_immutable_ids_too(m365: M365) -> None:
    client, email = client_for(m365)
    deliver(m365, email, "batched")
    (message,) = client.get("mailFolders/inbox/messages", params={"$select": "id"})["value"]
    (answer,) = client.batch([BatchRequest("1", "GET", f"messages/{message['id']}?$select=id")])
    # the id a batch answers is the immutable one a single request answers
    assert answer.ok and answer.body["id"] == message["id"]
    moved = client.post(f"messages/{message['id']}/move", {"destinationId": "deleteditems"})
    assert moved is not None and moved["id"] == answer.body["id"]
