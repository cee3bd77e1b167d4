"""Graph mail over the emulator's store, with plain `requests` as a Graph client would."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.waiting import eventually

from .conftest import Tenant

pytestmark = pytest.mark.e2e
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
PROP = "String {00020329-0000-0000-c000-000000000046} Name CrmTracking"


def url(tenant: Tenant, email: str, path: str) -> str:
    return f"{tenant.graph}/users/{email}/{path}"


def ok(answer: requests.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json() if answer.content else None


def error_of(answer: requests.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def inbox_of(
    tenant: Tenant, graph: requests.Session, email: str, *, count: int = 1
) -> list[dict[str, Any]]:
    """The Inbox's messages once `count` have arrived (sent mail is delivered a moment
    after the send, as Exchange's transport does)."""

    def listed() -> list[dict[str, Any]]:
        value = ok(graph.get(url(tenant, email, "mailFolders/inbox/messages")))["value"]
        return list(value) if len(value) >= count else []

    return eventually(listed, f"{count} delivered message(s)")


def test_mail_folders_and_messages_list(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    tenant.control.seed(email, "messages", 12)
    folders = ok(graph.get(url(tenant, email, "mailFolders")))["value"]
    names = {f["displayName"] for f in folders}
    assert {"Inbox", "Drafts", "Sent Items", "Deleted Items"} <= names
    assert "Calendar" not in names
    inbox = ok(graph.get(url(tenant, email, "mailFolders/inbox")))
    assert (inbox["totalItemCount"], inbox["unreadItemCount"]) == (12, 12)
    first = ok(graph.get(url(tenant, email, "mailFolders/inbox/messages?$select=subject,isRead")))
    assert len(first["value"]) == 10
    assert set(first["value"][0]) == {"@odata.etag", "id", "subject", "isRead"}
    rest = ok(graph.get(first["@odata.nextLink"]))
    assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest
    subjects = {m["subject"] for m in first["value"] + rest["value"]}
    assert subjects == {f"Seeded message {n}" for n in range(12)}


def test_draft_update_attachments_send_and_mime(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    sender, recipient = new_mailbox(), new_mailbox()
    draft = ok(
        graph.post(
            url(tenant, sender, "messages"),
            json={
                "subject": "Quote 42",
                "body": {"contentType": "html", "content": "<p>Hello</p>"},
                "toRecipients": [{"emailAddress": {"address": recipient, "name": "Rec"}}],
                "singleValueExtendedProperties": [{"id": PROP, "value": "T-42"}],
            },
        ),
        201,
    )
    assert draft["isDraft"] is True
    assert draft["body"] == {"contentType": "html", "content": "<p>Hello</p>"}
    updated = ok(
        graph.patch(
            url(tenant, sender, f"messages/{draft['id']}"),
            json={"subject": "Quote 43", "importance": "high"},
        )
    )
    assert (updated["subject"], updated["importance"]) == ("Quote 43", "high")
    assert updated["changeKey"] != draft["changeKey"]
    content = b"%PDF-1.4 quote"
    attachment = ok(
        graph.post(
            url(tenant, sender, f"messages/{draft['id']}/attachments"),
            json={
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "quote.pdf",
                "contentType": "application/pdf",
                "contentBytes": base64.b64encode(content).decode(),
            },
        ),
        201,
    )
    assert attachment["size"] > 0
    expanded = ok(
        graph.get(
            url(tenant, sender, f"messages/{draft['id']}"),
            params={
                "$expand": f"attachments,singleValueExtendedProperties($filter=id eq '{PROP}')"
            },
        )
    )
    assert expanded["hasAttachments"] is True
    assert base64.b64decode(expanded["attachments"][0]["contentBytes"]) == content
    assert expanded["singleValueExtendedProperties"] == [{"id": PROP, "value": "T-42"}]
    ok(graph.post(url(tenant, sender, f"messages/{draft['id']}/send")), 202)
    sent = ok(graph.get(url(tenant, sender, "mailFolders/sentitems/messages")))["value"]
    assert [m["subject"] for m in sent] == ["Quote 43"]
    assert sent[0]["isDraft"] is False
    received = inbox_of(tenant, graph, recipient)
    assert [m["subject"] for m in received] == ["Quote 43"]
    mime = graph.get(url(tenant, recipient, f"messages/{received[0]['id']}/$value"))
    assert mime.status_code == 200
    assert b"Subject: Quote 43" in mime.content
    assert b"quote.pdf" in mime.content


def test_send_mail_with_and_without_saving(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    sender, recipient = new_mailbox(), new_mailbox()
    for save in (True, False):
        ok(
            graph.post(
                url(tenant, sender, "sendMail"),
                json={
                    "message": {
                        "subject": f"saved={save}",
                        "body": {"contentType": "text", "content": "Hi"},
                        "toRecipients": [{"emailAddress": {"address": recipient}}],
                    },
                    "saveToSentItems": save,
                },
            ),
            202,
        )
    sent = ok(graph.get(url(tenant, sender, "mailFolders/sentitems/messages")))["value"]
    assert [m["subject"] for m in sent] == ["saved=True"]
    inbox = inbox_of(tenant, graph, recipient, count=2)
    assert sorted(m["subject"] for m in inbox) == ["saved=False", "saved=True"]
    no_recipient = graph.post(url(tenant, sender, "sendMail"), json={"message": {"subject": "x"}})
    assert error_of(no_recipient) == (400, "ErrorInvalidRecipients")


def test_translate_exchange_ids_is_refused_to_an_application(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    # https://learn.microsoft.com/graph/api/user-translateexchangeids: "Application: Not
    # supported" (the token of app-all carries every role).
    email = new_mailbox()
    [ews_id] = tenant.control.seed(email, "messages", 1)
    body = {"inputIds": [ews_id], "sourceIdType": "ewsId", "targetIdType": "restImmutableEntryId"}
    answer = graph.post(url(tenant, email, "translateExchangeIds"), json=body)
    assert error_of(answer) == (403, "ErrorAccessDenied")


def test_move_delete_and_immutable_ids(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    [ews_id] = tenant.control.seed(email, "messages", 1)
    listed = ok(graph.get(url(tenant, email, "mailFolders/inbox/messages"), headers=IMMUTABLE))
    immutable = listed["value"][0]["id"]
    archive = ok(
        graph.post(url(tenant, email, "mailFolders"), json={"displayName": "Archive"}), 201
    )
    moved = ok(
        graph.post(
            url(tenant, email, f"messages/{immutable}/move"),
            json={"destinationId": archive["id"]},
            headers=IMMUTABLE,
        ),
        201,
    )
    assert moved["id"] == immutable  # an immutable id survives the move
    assert moved["parentFolderId"] == archive["id"]
    again = ok(graph.get(url(tenant, email, f"messages/{immutable}"), headers=IMMUTABLE))
    assert again["subject"] == "Seeded message 0"
    archive_ews_id = archive["id"].replace("-", "/").replace("_", "+")
    current = tenant.control.items(email, archive_ews_id)[0]["id"]
    assert current != ews_id  # EWS gave the moved item a new id
    plain = ok(
        graph.get(url(tenant, email, f"messages/{current.replace('/', '-').replace('+', '_')}"))
    )
    assert plain["id"] != immutable and plain["subject"] == "Seeded message 0"
    ok(graph.delete(url(tenant, email, f"messages/{immutable}")), 204)
    assert [i["subject"] for i in tenant.control.items(email, "deleteditems")] == [
        "Seeded message 0"
    ]


def test_filter_on_internet_message_id_and_extended_property(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    tenant.control.seed(email, "messages", 3)
    target = ok(
        graph.post(
            url(tenant, email, "mailFolders/inbox/messages"),
            json={
                "subject": "Tracked",
                "internetMessageId": "<tracked-1@example.org>",
                "singleValueExtendedProperties": [{"id": PROP, "value": "CRM-7"}],
            },
        ),
        201,
    )
    by_mid = ok(
        graph.get(
            url(tenant, email, "messages"),
            params={"$filter": "internetMessageId eq '<tracked-1@example.org>'"},
        )
    )
    assert [m["id"] for m in by_mid["value"]] == [target["id"]]
    by_prop = ok(
        graph.get(
            url(tenant, email, "mailFolders/inbox/messages"),
            params={
                "$filter": "singleValueExtendedProperties/any("
                f"ep: ep/id eq '{PROP}' and ep/value eq 'CRM-7')"
            },
        )
    )
    assert [m["subject"] for m in by_prop["value"]] == ["Tracked"]
    bad = graph.get(url(tenant, email, "messages"), params={"$filter": "subject startswith 'x'"})
    assert error_of(bad) == (400, "BadRequest")


def test_large_attachment_through_an_upload_session(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    draft = ok(graph.post(url(tenant, email, "messages"), json={"subject": "Big"}), 201)
    payload = bytes(range(256)) * 16 * 1024  # 4 MiB: above the 3 MB of a plain POST
    too_big = graph.post(
        url(tenant, email, f"messages/{draft['id']}/attachments"),
        json={"name": "big.bin", "contentBytes": base64.b64encode(payload).decode()},
    )
    assert error_of(too_big) == (413, "ErrorRequestEntityTooLarge")
    session = ok(
        graph.post(
            url(tenant, email, f"messages/{draft['id']}/attachments/createUploadSession"),
            json={
                "AttachmentItem": {
                    "attachmentType": "file",
                    "name": "big.bin",
                    "size": len(payload),
                }
            },
        ),
        201,
    )
    upload = tenant.session()  # the upload URL carries its own authorization: no token
    chunk = 1024 * 1024 * 3
    for start in range(0, len(payload), chunk):
        part = payload[start : start + chunk]
        answer = upload.put(
            session["uploadUrl"],
            data=part,
            headers={"Content-Range": f"bytes {start}-{start + len(part) - 1}/{len(payload)}"},
        )
        if start + chunk < len(payload):
            assert ok(answer)["nextExpectedRanges"] == [f"{start + len(part)}-"]
        else:
            assert answer.status_code == 201, answer.text
    attachments = ok(graph.get(url(tenant, email, f"messages/{draft['id']}/attachments")))["value"]
    assert [a["name"] for a in attachments] == ["big.bin"]
    raw = graph.get(
        url(tenant, email, f"messages/{draft['id']}/attachments/{attachments[0]['id']}/$value")
    )
    assert raw.content == payload


def test_graph_errors(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    assert error_of(graph.get(url(tenant, "nobody@example.com", "messages"))) == (
        404,
        "ErrorInvalidUser",
    )
    missing = "AAMkAGI2TG93AAA="
    assert error_of(graph.get(url(tenant, email, f"messages/{missing}"))) == (
        404,
        "ErrorItemNotFound",
    )
    assert error_of(graph.get(f"{tenant.graph}/me/messages")) == (400, "BadRequest")
    anonymous = tenant.session()
    answer = anonymous.get(url(tenant, email, "messages"))
    assert error_of(answer) == (401, "InvalidAuthenticationToken")
    expired = tenant.control.expired_token("app-all")
    answer = anonymous.get(
        url(tenant, email, "messages"), headers={"Authorization": f"Bearer {expired}"}
    )
    assert error_of(answer) == (401, "InvalidAuthenticationToken")
    assert "expired" in answer.json()["error"]["message"]
    mail_only = tenant.token("app-mail")  # Mail.ReadWrite but no Mail.Send
    answer = anonymous.post(
        url(tenant, email, "sendMail"),
        headers={"Authorization": f"Bearer {mail_only}"},
        json={"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": email}}]}},
    )
    assert error_of(answer) == (403, "ErrorAccessDenied")
    scoped = tenant.token("app-scoped")  # limited to alice@example.com
    answer = anonymous.get(
        url(tenant, email, "messages"), headers={"Authorization": f"Bearer {scoped}"}
    )
    assert error_of(answer) == (403, "ErrorAccessDenied")
    assert "AccessPolicy" in answer.json()["error"]["message"]
    alice = anonymous.get(
        url(tenant, "alice@example.com", "messages"), headers={"Authorization": f"Bearer {scoped}"}
    )
    assert alice.status_code == 200


def test_draft_from_mime_keeps_its_headers_and_sends(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    sender, recipient = new_mailbox(), new_mailbox()
    mime = (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: Quote from MIME\r\n"
        "Message-ID: <quote-1@crm.test>\r\nIn-Reply-To: <ask-1@partner.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe quote.\r\n"
    ).encode()
    draft = ok(
        graph.post(
            url(tenant, sender, "messages"),
            data=base64.b64encode(mime),
            headers={"Content-Type": "text/plain"},
        ),
        201,
    )
    assert (draft["isDraft"], draft["subject"]) == (True, "Quote from MIME")
    assert draft["internetMessageId"] == "<quote-1@crm.test>"
    assert draft["toRecipients"][0]["emailAddress"]["address"] == recipient
    stored = graph.get(url(tenant, sender, f"messages/{draft['id']}/$value"))
    assert b"In-Reply-To: <ask-1@partner.test>" in stored.content
    ok(graph.post(url(tenant, sender, f"messages/{draft['id']}/send")), 202)
    received = inbox_of(tenant, graph, recipient)
    assert [m["internetMessageId"] for m in received] == ["<quote-1@crm.test>"]


def test_draft_from_mime_that_is_not_base64_is_refused(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    sender = new_mailbox()
    answer = graph.post(
        url(tenant, sender, "messages"),
        data=b"From: a@b.test\r\n\r\nnot base64",
        headers={"Content-Type": "text/plain"},
    )
    assert error_of(answer) == (400, "ErrorMimeContentInvalidBase64String")
