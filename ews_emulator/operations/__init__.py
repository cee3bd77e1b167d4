"""EWS operation handlers, registered by name in `OPERATIONS`."""

from . import find_sync, folders, item_ops, misc, notify
from .base import OPERATIONS, Ctx, Streamed

__all__ = ["OPERATIONS", "Ctx", "Streamed", "find_sync", "folders", "item_ops", "misc", "notify"]
