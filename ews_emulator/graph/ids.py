"""Graph ids of EWS objects.

A Graph (REST) id is the EWS id in URL-safe form (`/` -> `-`, `+` -> `_`), as
`translateExchangeIds` describes. An immutable id (`Prefer: IdType="ImmutableId"`) encodes
the id the item was created with; the store's `item_aliases` (filled by a trigger on every
change of an item's id: EWS gives moved items a new id) and `Store.current_item_id` find the
item again.
"""

from __future__ import annotations

import base64
import binascii

from ..store import Store

IMMUTABLE_MARK = b"\x0e"


def rest_id(ews_id: str) -> str:
    return ews_id.replace("/", "-").replace("+", "_")


def ews_id(rest: str) -> str:
    return rest.replace("-", "/").replace("_", "+")


def immutable_id(store: Store, item_id: str) -> str:
    original = store.original_item_id(item_id)
    try:
        raw = base64.b64decode(original, validate=True)
    except (binascii.Error, ValueError):
        return rest_id(original)
    return rest_id(base64.b64encode(IMMUTABLE_MARK + raw).decode())


def original_of_immutable(rest: str) -> str | None:
    """The creation-time EWS id an immutable id stands for (None: not an immutable id)."""
    try:
        raw = base64.b64decode(ews_id(rest), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(IMMUTABLE_MARK) or len(raw) < 9:
        return None
    return base64.b64encode(raw[1:]).decode()


def resolve_item_id(store: Store, given: str) -> str:
    """The current EWS id of the item a Graph id (REST or immutable) designates."""
    original = original_of_immutable(given)
    if original is not None:
        return store.current_item_id(original) or original
    return ews_id(given)
