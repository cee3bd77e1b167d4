"""Outgoing mail over SMTP for a mailbox that also reads its mail over IMAP: the sent copy
in the IMAP Sent folder, and a send whose outcome is unknown resolved by looking there. No
Django here.

SMTP cannot be asked afterwards whether it accepted a message, and crmsync only learns it
from the server's answer to the end of DATA. When a worker dies while it waits for that
answer, or the connection drops before it comes, the message may or may not have gone.
What the server did at that moment must leave a trace that outlives the worker:

- A server that saves sent copies itself (Gmail, Microsoft 365; the profile says so with
  `smtp_saves_sent_copy`) puts the message in the Sent folder as it accepts it.
- Any other server gets the mailbox's own address as one more envelope recipient (a
  *receipt*: not in the headers, so nobody sees it). The server accepts the message for all
  its recipients at once or for none, so the receipt is in the mailbox's INBOX exactly when
  the message went out. After a successful send crmsync APPENDs the message to Sent (flagged
  \\Seen) and deletes the receipt.

`already_sent` looks the Message-ID up in Sent, then among the receipts in the INBOX; a
receipt found there means the message went out: it is moved to Sent as the sent copy.
Receipts that arrive after the send pass ended (a server that queues local delivery) are
removed at the start of the mailbox's next send pass, once their copy is in Sent.
"""

from __future__ import annotations

import email.parser
import email.utils
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from mailboxes.connectors import SyncError
from mailboxes.connectors.imap import ImapConnector, ImapSettings
from mailboxes.connectors.mail_base import ComposedMessage, SendStamp
from mailboxes.connectors.session import Session
from mailboxes.connectors.smtp import SmtpConnector, SmtpSettings

logger = logging.getLogger(__name__)

INBOX = "INBOX"
# Where a Sent folder is made when the server shows none.
DEFAULT_SENT_FOLDER = "Sent"
# The Message-IDs crmsync gives the email it sends (`mailboxes.mail.outgoing.fix_identity`).
OWN_MESSAGE_ID_MARK = "<crmsync."


class SmtpImapMailSender(Session):
    """`MailSender` over SMTP that keeps the sent copy over IMAP and can look for it."""

    can_check_sent = True

    def __init__(
        self,
        smtp: SmtpSettings,
        imap: ImapSettings,
        *,
        own_address: str,
        server_saves_sent_copy: bool,
    ) -> None:
        self.connector = SmtpConnector(smtp)
        self.imap_settings = imap
        self.own_address = own_address.strip().lower()
        self.server_saves_sent_copy = server_saves_sent_copy
        self._imap: ImapConnector | None = None
        self._sent_folder: str | None = None

    def connect(self) -> None:
        """Nothing to open until a message is sent; receipts a server delivered late are
        tidied first."""
        if self.server_saves_sent_copy:
            return
        try:
            self.remove_filed_receipts()
        except SyncError as exc:
            # Tidying the INBOX must never hold back sending.
            logger.warning("receipts not removed: %s", exc.message)

    def end(self, *, failed: bool) -> None:
        self.connector.close()
        if self._imap is not None:
            self._imap.logout()
            self._imap = None

    # --- the seam -------------------------------------------------------------------------
    def send(self, message: ComposedMessage) -> dict[str, str]:
        receipt = self._wants_receipt(message.recipients)
        refused = self.connector.send(
            message.sender,
            message.recipients,
            message.raw,
            receipt_to=self.own_address if receipt else "",
        )
        try:
            self._keep_sent_copy(message, receipt=receipt)
        except SyncError as exc:
            # The message went out: that must not make it be sent again.
            logger.warning(
                "email %s sent, but its copy is not in Sent: %s",
                message.stamp.email_id if message.stamp else "?",
                exc.message,
            )
        return refused

    def already_sent(self, stamp: SendStamp) -> bool:
        imap = self._session()
        sent = self.sent_folder()
        imap.select(sent, readonly=True)
        if imap.search_header("Message-ID", stamp.message_id):
            return True
        if self.server_saves_sent_copy:
            return False
        imap.select(INBOX, readonly=False)
        found = imap.search_header("Message-ID", stamp.message_id)
        if not found:
            return False
        # The server accepted the message (its receipt, or a copy the email itself sent to
        # this mailbox, is here): the copy becomes the sent copy.
        receipts = [uid for uid in found if not self._addressed_to_self(imap, uid)]
        source = receipts or found
        imap.store_flags(source[:1], "(\\Seen)")
        imap.copy(source[:1], sent)
        imap.delete_messages(receipts)
        return True

    # --- sent copies and receipts ------------------------------------------------------------
    def sent_folder(self) -> str:
        if self._sent_folder is None:
            imap = self._session()
            found = imap.sent_folder()
            if found is None:
                imap.create_folder(DEFAULT_SENT_FOLDER)
                found = DEFAULT_SENT_FOLDER
            self._sent_folder = found
        return self._sent_folder

    def remove_filed_receipts(self) -> int:
        """Delete the receipts in the INBOX whose message is in Sent; how many."""
        imap = self._session()
        imap.select(INBOX, readonly=False)
        candidates = imap.search(
            "FROM", self.own_address, "HEADER", "Message-ID", OWN_MESSAGE_ID_MARK
        )
        if not candidates:
            return 0
        headers = imap.header_fields(candidates, ("Message-ID", "To", "Cc"))
        receipts = {
            uid: message_id
            for uid, (message_id, addressed) in (
                (uid, self._read(fields)) for uid, fields in headers.items()
            )
            if message_id and not addressed
        }
        if not receipts:
            return 0
        sent = self.sent_folder()
        imap.select(sent, readonly=True)
        filed = [
            uid
            for uid, message_id in receipts.items()
            if imap.search_header("Message-ID", message_id)
        ]
        imap.select(INBOX, readonly=False)
        imap.delete_messages(filed)
        return len(filed)

    def _keep_sent_copy(self, message: ComposedMessage, *, receipt: bool) -> None:
        if self.server_saves_sent_copy:
            return
        imap = self._session()
        imap.append(self.sent_folder(), message.raw, flags="(\\Seen)", date=datetime.now(UTC))
        if receipt and message.stamp is not None:
            imap.select(INBOX, readonly=False)
            imap.delete_messages(imap.search_header("Message-ID", message.stamp.message_id))

    def _wants_receipt(self, recipients: Sequence[str]) -> bool:
        # A message to this mailbox itself is its own receipt.
        return not self.server_saves_sent_copy and self.own_address not in {
            r.lower() for r in recipients
        }

    def _addressed_to_self(self, imap: ImapConnector, uid: int) -> bool:
        fields = imap.header_fields([uid], ("Message-ID", "To", "Cc")).get(uid, b"")
        return self._read(fields)[1]

    def _read(self, fields: bytes) -> tuple[str, bool]:
        """A header block's Message-ID, and whether To or Cc name this mailbox."""
        headers = email.parser.BytesHeaderParser().parsebytes(fields)
        message_id = str(headers.get("Message-ID", "")).strip()
        named = email.utils.getaddresses(
            [str(v) for v in headers.get_all("To", []) + headers.get_all("Cc", [])]
        )
        return message_id, any(address.lower() == self.own_address for _n, address in named)

    def _session(self) -> ImapConnector:
        if self._imap is None:
            imap = ImapConnector(self.imap_settings)
            imap.connect()
            self._imap = imap
        return self._imap
