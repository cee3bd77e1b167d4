"""EWS operation handlers, registered by name in `OPERATIONS`."""

from . import (
    availability,
    directory,
    export,
    find_sync,
    folders,
    item_ops,
    misc,
    notify,
    people,
    settings,
)
from .base import OPERATIONS, Ctx, Streamed

__all__ = [
    "OPERATIONS",
    "Ctx",
    "Streamed",
    "availability",
    "directory",
    "export",
    "find_sync",
    "folders",
    "item_ops",
    "misc",
    "notify",
    "people",
    "settings",
]
