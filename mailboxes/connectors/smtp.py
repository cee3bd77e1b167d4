"""SMTP connector: one session that sends many messages. No Django here.

Replies are classified where they are understood: 4xx and lost connections are transient,
5xx are permanent. A message refused for some recipients but accepted for others counts as
sent (the refused addresses are returned), since sending it again would duplicate it for
the recipients that accepted it.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailboxes.connectors import (
    ErrorKind,
    PermanentSyncError,
    TransientSyncError,
    authentication_failed,
    network_error,
)
from mailboxes.connectors.mail_base import ComposedMessage, SendOutcomeUnknown, SendStamp
from mailboxes.connectors.session import Session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int | None
    username: str = ""
    password: str = field(default="", repr=False)
    # "ssl": implicit TLS (465); "starttls": upgrade, required; "none": plaintext.
    security: str = "starttls"
    timeout: float = 60.0


class SmtpMessageRefused(PermanentSyncError):
    """The server refused this message (5xx): retrying it cannot help, other messages may go."""

    def __init__(self, message: str, *, code: str = "smtp_refused") -> None:
        super().__init__(message, code=code, affects_mailbox=False)


class SmtpConnector(Session):
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None

    def end(self, *, failed: bool) -> None:
        self.close()

    def connect(self) -> None:
        s = self.settings
        try:
            if s.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port or 465, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(s.host, s.port or 587, timeout=s.timeout)
                client.ehlo_or_helo_if_needed()
                if s.security == "starttls":
                    if not client.has_extn("starttls"):
                        client.close()
                        raise PermanentSyncError(
                            f"SMTP server {s.host} does not offer STARTTLS and TLS is required",
                            code="tls_unavailable",
                        )
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc, "SMTP greeting") from exc
        except OSError as exc:  # smtplib.SMTPException included
            raise network_error(f"SMTP connection to {s.host} failed", exc) from exc
        if s.username:
            try:
                client.login(s.username, s.password)
            except smtplib.SMTPAuthenticationError as exc:
                client.close()
                raise authentication_failed(
                    f"SMTP login refused: {exc.smtp_code} {_reply(exc)}"
                ) from exc
            except smtplib.SMTPNotSupportedError as exc:
                client.close()
                raise PermanentSyncError(
                    "SMTP server offers no authentication", code="smtp_auth_unsupported"
                ) from exc
            except smtplib.SMTPResponseException as exc:
                client.close()
                raise _classify(exc, "SMTP login") from exc
            except OSError as exc:  # smtplib.SMTPException included
                client.close()
                raise network_error("SMTP login failed", exc) from exc
        self._client = client

    def send(
        self, sender: str, recipients: Sequence[str], raw: bytes, *, receipt_to: str = ""
    ) -> dict[str, str]:
        """Send one message; returns the recipients the server refused (address -> reply).

        `receipt_to` is one more envelope recipient that is not a recipient of the message
        (a receipt in the sender's own mailbox, `smtp_imap.py`): the message is not sent
        when the server refuses every real recipient, and a refused receipt is not
        reported. Raises `SendOutcomeUnknown` when the whole message went out but the
        server's answer to it did not come back: it may have been accepted."""
        if self._client is None:
            self.connect()
        assert self._client is not None
        client = self._client
        try:
            refused = self._envelope(client, sender, recipients, receipt_to)
            code, reply = _data(client, raw)
        except SendOutcomeUnknown:
            self.close()
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            replies = {a: f"{c} {_decode(m)}" for a, (c, m) in exc.recipients.items()}
            if all(str(r).startswith("4") for r in replies.values()):
                raise TransientSyncError(
                    f"SMTP recipients deferred: {replies}", code="smtp_deferred"
                ) from exc
            raise SmtpMessageRefused(f"SMTP refused every recipient: {replies}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            self._client = None
            raise TransientSyncError(
                f"SMTP server disconnected: {exc}",
                code="connection_dropped",
                kind=ErrorKind.NETWORK,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise _classify(exc, "SMTP send") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TransientSyncError(f"SMTP send failed: {exc}", code="smtp_unavailable") from exc
        if code != 250:
            self._reset()
            raise _classify(smtplib.SMTPDataError(code, reply), "SMTP send")
        return refused

    @staticmethod
    def _envelope(
        client: smtplib.SMTP, sender: str, recipients: Sequence[str], receipt_to: str
    ) -> dict[str, str]:
        """MAIL FROM and RCPT TO, as `smtplib.sendmail` sends them; the refused recipients."""
        client.ehlo_or_helo_if_needed()
        code, reply = client.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused: dict[str, str] = {}
        replies: dict[str, tuple[int, bytes]] = {}
        for address in recipients:
            code, reply = client.rcpt(address)
            if code not in (250, 251):
                refused[address] = f"{code} {_decode(reply)}"
                replies[address] = (code, reply)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(replies)
        if receipt_to:
            code, reply = client.rcpt(receipt_to)
            if code not in (250, 251):
                logger.warning("SMTP refused the receipt to %s: %s %s", receipt_to, code, reply)
        return refused

    def _reset(self) -> None:
        if self._client is None:
            return
        try:
            self._client.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._client.quit()
        except (OSError, smtplib.SMTPException):
            logger.debug("SMTP QUIT failed", exc_info=True)
            try:
                self._client.close()
            except OSError:
                logger.debug("closing the SMTP socket failed", exc_info=True)
        self._client = None


def _data(client: smtplib.SMTP, raw: bytes) -> tuple[int, bytes]:
    """DATA, as `smtplib.SMTP.data` sends it, except that an answer lost after the final
    "." (the only moment the server may have accepted the message without our knowing)
    raises `SendOutcomeUnknown` rather than a plain network error."""
    client.putcmd("data")
    code, reply = client.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    body = re.sub(rb"(?m)^\.", b"..", raw)
    if body[-2:] != b"\r\n":
        body += b"\r\n"
    client.send(body + b".\r\n")
    try:
        return client.getreply()
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise SendOutcomeUnknown(
            f"the SMTP server did not answer the end of the message ({exc}): it may have "
            "accepted it"
        ) from exc


def _classify(exc: smtplib.SMTPResponseException, what: str) -> Exception:
    text = f"{what}: {exc.smtp_code} {_reply(exc)}"
    if 400 <= exc.smtp_code < 500:
        return TransientSyncError(text, code="smtp_deferred")
    return SmtpMessageRefused(text)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return _decode(exc.smtp_error)


def _decode(message: bytes | str) -> str:
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return str(message)


class SmtpMailSender(Session):
    """Outgoing mail over SMTP behind the email seam (`MailSender`). SMTP offers no way to
    ask whether a message was accepted: `already_sent` cannot look."""

    can_check_sent = False

    def __init__(self, settings: SmtpSettings) -> None:
        self.connector = SmtpConnector(settings)

    def end(self, *, failed: bool) -> None:
        self.connector.close()

    def already_sent(self, stamp: SendStamp) -> bool:
        return False

    def send(self, message: ComposedMessage) -> dict[str, str]:
        return self.connector.send(message.sender, message.recipients, message.raw)
