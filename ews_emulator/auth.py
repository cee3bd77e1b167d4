"""NTLM for the EWS endpoint, served by pyspnego.

pyspnego's NTLM acceptor reads user credentials from the file named by `NTLM_USER_FILE`;
the emulator writes its mailboxes there before each handshake, so password changes made
through the control API apply to NTLM as they do to Basic.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from typing import Any

from .store import Store

NEGOTIATE_MESSAGE = b"\x01\x00\x00\x00"


class NtlmAcceptor:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = f"{store.path}.ntlm-users"
        self._lock = threading.Lock()
        os.environ["NTLM_USER_FILE"] = self.path
        self._write_users()

    def _write_users(self) -> None:
        lines = [f":{mb.smtp}:{mb.password}" for mb in self.store.mailboxes()]
        with self._lock:
            tmp = f"{self.path}.{os.getpid()}.{threading.get_ident()}"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
            os.replace(tmp, self.path)

    def step(self, handler: Any, token: str) -> tuple[str, str] | None:
        """("challenge", token) to send back, ("user", logon name) when done, None on failure."""
        import spnego
        import spnego.exceptions

        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return None
        context = getattr(handler, "ntlm_context", None)
        if context is None or raw[8:12] == NEGOTIATE_MESSAGE:
            self._write_users()
            context = spnego.server(protocol="ntlm")
            handler.ntlm_context = context
        try:
            out = context.step(raw)
        except spnego.exceptions.SpnegoError:
            handler.ntlm_context = None
            return None
        if context.complete:
            handler.ntlm_context = None
            principal = str(context.client_principal or "")
            return "user", principal.split("\\")[-1]
        if out is None:
            return None
        return "challenge", base64.b64encode(out).decode()
