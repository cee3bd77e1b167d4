"""A real SMTP server (aiosmtpd) on loopback that delivers into Dovecot's maildirs, so that a
message sent by crmsync can be read back over IMAP or POP3."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.dovecot import DovecotServer, free_port


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class _Handler:
    dovecot: DovecotServer | None
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Addresses the server refuses at RCPT TO with this SMTP reply (tests of failures).
    refuse: dict[str, str] = field(default_factory=dict)
    # Reply given to DATA instead of accepting it (e.g. "451 4.3.0 try later").
    data_reply: str | None = None
    # After accepting and delivering a message: wait this long before answering (a client
    # killed meanwhile never learns the outcome), or close the connection without answering.
    reply_delay: float = 0.0
    drop_after_data: bool = False

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        data = envelope.original_content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        delivery = Delivery(str(envelope.mail_from), list(envelope.rcpt_tos), data)
        with self.lock:
            self.deliveries.append(delivery)
        if self.dovecot is not None:
            for rcpt in delivery.rcpt_tos:
                if self.dovecot.has_user(rcpt):
                    self.dovecot.deliver(
                        rcpt, b"Return-Path: <%s>\r\n" % (delivery.mail_from.encode()) + data
                    )
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        if self.drop_after_data and server.transport is not None:
            server.transport.close()
        return "250 Message accepted for delivery"


def _accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    if isinstance(auth_data, LoginPassword) and auth_data.password == b"wrong":
        return AuthResult(success=False, handled=False)
    return AuthResult(success=True)


class SmtpServer:
    def __init__(self, dovecot: DovecotServer | None = None) -> None:
        self.handler = _Handler(dovecot)
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            authenticator=_accept_any_login,
            auth_require_tls=False,
            decode_data=False,
            data_size_limit=100 * 1024 * 1024,
        )

    @property
    def deliveries(self) -> list[Delivery]:
        with self.handler.lock:
            return list(self.handler.deliveries)

    @contextmanager
    def misbehaving(self, **faults: Any) -> Iterator[None]:
        """The server answers with these `_Handler` faults (`data_reply`, `reply_delay`,
        `drop_after_data`) inside the block, and as before after it."""
        before = {name: getattr(self.handler, name) for name in faults}
        for name, value in faults.items():
            setattr(self.handler, name, value)
        try:
            yield
        finally:
            for name, value in before.items():
                setattr(self.handler, name, value)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
