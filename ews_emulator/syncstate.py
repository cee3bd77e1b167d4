"""Opaque sync states: (kind, folder, last change sequence seen), authenticated by an HMAC.

The HMAC key lives in the database, so every emulator process on the same file accepts
the states the others issued, and a restart does not invalidate them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from .soap import EwsError
from .store import Store

MAC_LENGTH = 12
INVALID = "Synchronization state data is corrupt or otherwise invalid."


def encode_state(store: Store, kind: str, folder_id: str, seq: int) -> str:
    payload = f"{kind}|{folder_id}|{seq}".encode()
    mac = hmac.new(store.secret, payload, hashlib.sha256).digest()[:MAC_LENGTH]
    return base64.b64encode(b"\x07" + payload + mac).decode()


def decode_state(store: Store, text: str, kind: str, folder_id: str) -> int:
    """The sequence a state stands for; ErrorInvalidSyncStateData when it is not ours."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EwsError("ErrorInvalidSyncStateData", INVALID) from None
    if len(raw) <= MAC_LENGTH + 1 or raw[0] != 7:
        raise EwsError("ErrorInvalidSyncStateData", INVALID)
    payload, mac = raw[1:-MAC_LENGTH], raw[-MAC_LENGTH:]
    expected = hmac.new(store.secret, payload, hashlib.sha256).digest()[:MAC_LENGTH]
    if not hmac.compare_digest(mac, expected):
        raise EwsError("ErrorInvalidSyncStateData", INVALID)
    try:
        state_kind, state_folder, seq = payload.decode().split("|")
        value = int(seq)
    except ValueError:
        raise EwsError("ErrorInvalidSyncStateData", INVALID) from None
    if state_kind != kind or state_folder != folder_id:
        raise EwsError("ErrorInvalidSyncStateData", INVALID)
    return value
