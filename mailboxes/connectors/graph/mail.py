"""Email over Microsoft Graph behind the email seam (`mailboxes/connectors/mail_base.py`).

Incoming: each folder is paged by `mailFolders/{id}/messages/delta` (the cursor is the
`@odata.nextLink` while a sync is under way, then the `@odata.deltaLink`); created and
changed messages come as new (the engine skips those it filed), deleted and moved-out ones
as removed. The raw MIME is `messages/{id}/$value`
(https://learn.microsoft.com/graph/outlook-get-mime-message), attachments of any size
included. A delta link Graph no longer knows (410) raises `DeltaTokenLost`, a
`CursorLostError`.

Outgoing, exactly once: the composed MIME becomes a draft
(https://learn.microsoft.com/graph/outlook-send-mime-message), attachments too large for
one request follow by upload sessions (`outgoing_mime.py`), then the draft is stamped with
the CRM email's id in a single-value extended property (the stamp says it is whole) and
sent by `messages/{id}/send`. Before any retry, `already_sent` looks the stamp and the
Message-ID up in Sent Items, the Outbox and Drafts in one `$batch`: a message found sent
(or on its way) is not sent again, a stamped draft left by a killed worker is sent rather
than made again, and an unstamped one (its worker died before it was whole) is deleted and
the email sent anew.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from mailboxes.connectors.graph.client import BatchRequest, GraphClient
from mailboxes.connectors.graph.errors import GraphRequestError, ItemNotFound
from mailboxes.connectors.graph.outgoing_mime import (
    LargeAttachment,
    ranges,
    split_large_attachments,
)
from mailboxes.connectors.mail_base import (
    UNDELIVERABLE_FOLDER,
    ComposedMessage,
    IncomingMessage,
    MailFolder,
    MailPage,
    MessageRef,
    SendStamp,
)
from mailboxes.connectors.session import Session

# crmsync's MAPI property set (as on EWS items, `connectors/ews/stamp.py`), its email name.
STAMP_PROPERTY = "String {0b1f4e2c-6d0a-4c53-9a57-63726d73796e} Name CrmEmailId"
# What a delta page carries of each message: what filing takes from the server besides
# the MIME.
DELTA_SELECT = "receivedDateTime,conversationId"
DELTA_PAGE_SIZE = 200


def _segment(folder_id: str) -> str:
    return quote(folder_id, safe="")


class GraphMailSource:
    """Incoming mail of one mailbox over Graph (`MailFolderSource`)."""

    protocol = "graph"  # FolderSyncState.Protocol.GRAPH

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def inbox(self) -> MailFolder:
        return MailFolder("inbox", "Inbox")

    def sent_items(self) -> MailFolder:
        return MailFolder("sentitems", "Sent Items")

    def folder(self, folder_id: str, name: str = "") -> MailFolder:
        return MailFolder(folder_id, name)

    def pages(self, folder: MailFolder, cursor: str | None) -> Iterator[MailPage]:
        start = cursor or f"mailFolders/{_segment(folder.id)}/messages/delta"
        params = None if cursor else {"$select": DELTA_SELECT}
        for page in self.client.delta(start, params=params, page_size=DELTA_PAGE_SIZE):
            yield MailPage(
                new=[
                    MessageRef(str(item["id"]), _when(item.get("receivedDateTime")), item)
                    for item in page.items
                ],
                removed=page.removed,
                cursor=page.delta_link or page.next_link or "",
                complete=page.delta_link is not None,
            )

    def fetch(self, folder: MailFolder, refs: Sequence[MessageRef]) -> list[IncomingMessage]:
        fetched = []
        for ref in refs:
            try:
                raw = self.client.get_bytes(f"messages/{_segment(ref.uid)}/$value")
            except ItemNotFound:
                continue  # deleted or moved since the page was made
            item = ref.handle if isinstance(ref.handle, dict) else {}
            conversation = str(item.get("conversationId") or "")
            fetched.append(
                IncomingMessage(ref.uid, raw, folder.id, ref.received_at, conversation, ref.uid)
            )
        return fetched

    def move_to_undeliverable(self, messages: Sequence[IncomingMessage]) -> None:
        target = self._undeliverable_folder()
        for message in messages:
            self.client.post(f"messages/{_segment(message.uid)}/move", {"destinationId": target})

    def _undeliverable_folder(self) -> str:
        found = self._find_undeliverable()
        if found:
            return found
        try:
            made = self.client.post(
                "mailFolders/inbox/childFolders", {"displayName": UNDELIVERABLE_FOLDER}
            )
        except GraphRequestError as exc:
            if exc.status != 409:  # ErrorFolderExists: another worker made it
                raise
            made = None
        return str(made["id"]) if made else self._find_undeliverable()

    def _find_undeliverable(self) -> str:
        children = self.client.items(
            "mailFolders/inbox/childFolders", params={"$select": "id,displayName"}
        )
        for child in children:
            if child.get("displayName") == UNDELIVERABLE_FOLDER:
                return str(child["id"])
        return ""


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class GraphMailSender(Session):
    """Outgoing mail over Graph (`MailSender`), exactly once (see the module's docstring)."""

    can_check_sent = True
    LOOKUP_FOLDERS = ("sentitems", "outbox", "drafts")

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def send(self, message: ComposedMessage) -> dict[str, str]:
        raw, large = split_large_attachments(message.raw)
        draft = self.client.post_text("messages", base64.b64encode(raw).decode("ascii"))
        if draft is None or "id" not in draft:
            raise GraphRequestError(
                "Graph made the draft but did not answer its id.", status=201, graph_code=""
            )
        draft_id = str(draft["id"])
        for attachment in large:
            self._upload(draft_id, attachment)
        # The stamp says the draft is whole: only a stamped draft is sent by a retry.
        if message.stamp is not None:
            self._stamp(draft_id, message.stamp)
        self._send_draft(draft_id)
        return {}

    def already_sent(self, stamp: SendStamp) -> bool:
        found = self._lookup(stamp)
        if found.get("sentitems") or found.get("outbox"):
            return True
        drafts = {str(d["id"]): d for d in found.get("drafts") or []}
        whole = [d for d in drafts.values() if _carries(d, stamp)]
        for draft_id, draft in drafts.items():
            if draft not in whole:
                # Made by a worker killed before the draft was whole: sent anew instead.
                self.client.delete(f"messages/{_segment(draft_id)}")
        if not whole:
            return False
        # A killed worker's whole draft: send it now rather than make another.
        self._send_draft(str(whole[0]["id"]))
        return True

    def _upload(self, draft_id: str, attachment: LargeAttachment) -> None:
        size = len(attachment.content)
        item: dict[str, Any] = {
            "attachmentType": "file",
            "name": attachment.name,
            "size": size,
            "contentType": attachment.content_type,
            "isInline": attachment.inline,
        }
        if attachment.content_id:
            item["contentId"] = attachment.content_id
        session = self.client.post(
            f"messages/{_segment(draft_id)}/attachments/createUploadSession",
            {"AttachmentItem": item},
        )
        url = str((session or {}).get("uploadUrl") or "")
        for start, end in ranges(size):
            self.client.put_bytes(
                url,
                attachment.content[start : end + 1],
                {"Content-Range": f"bytes {start}-{end}/{size}"},
            )

    def _stamp(self, draft_id: str, stamp: SendStamp) -> None:
        self.client.patch(
            f"messages/{_segment(draft_id)}",
            {
                "singleValueExtendedProperties": [
                    {"id": STAMP_PROPERTY, "value": str(stamp.email_id)}
                ]
            },
        )

    def _send_draft(self, draft_id: str) -> None:
        self.client.post(f"messages/{_segment(draft_id)}/send")

    def _lookup(self, stamp: SendStamp) -> dict[str, list[dict[str, Any]]]:
        """Messages of Sent Items, the Outbox and Drafts carrying the stamp or the
        Message-ID, by folder: one `$batch`."""
        by_stamp = (
            f"singleValueExtendedProperties/any(ep: ep/id eq '{STAMP_PROPERTY}' "
            f"and ep/value eq '{stamp.email_id}')"
        )
        filters = [by_stamp]
        if stamp.message_id:
            filters.append(f"internetMessageId eq '{_odata_text(stamp.message_id)}'")
        requests = []
        for folder in self.LOOKUP_FOLDERS:
            for n, condition in enumerate(filters):
                query = (
                    f"$filter={quote(condition, safe='')}&$top=5&$select=id"
                    f"&$expand={quote(_EXPAND, safe='')}"
                )
                requests.append(
                    BatchRequest(f"{folder}-{n}", "GET", f"mailFolders/{folder}/messages?{query}")
                )
        found: dict[str, list[dict[str, Any]]] = {}
        for answer in self.client.batch(requests):
            error = self.client.error_of(answer)
            if error is not None:
                raise error
            folder = answer.id.rsplit("-", 1)[0]
            body = answer.body if isinstance(answer.body, dict) else {}
            found.setdefault(folder, []).extend(body.get("value") or [])
        return found


_EXPAND = f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY}')"


def _carries(message: dict[str, Any], stamp: SendStamp) -> bool:
    return any(
        p.get("id", "").lower() == STAMP_PROPERTY.lower() and p.get("value") == str(stamp.email_id)
        for p in message.get("singleValueExtendedProperties") or []
    )


def _odata_text(value: str) -> str:
    """A string literal's content in an OData filter (a quote is doubled)."""
    return value.replace("'", "''")
