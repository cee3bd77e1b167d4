"""Directory look-ups the emulated organization answers empty: room lists, rooms,
distribution lists and eDiscovery's searchable mailboxes. The organization has mailboxes
only (no rooms, no groups) and no user holds the Discovery Management role."""

from __future__ import annotations

from ..soap import Element, EwsError, child, m, response_message, sub, text_of
from .base import Ctx, operation, response_root
from .settings import single_response

NO_RESULTS = EwsError("ErrorNameResolutionNoResults", "No results were found.")


@operation("GetRoomLists")
def get_room_lists(ctx: Ctx, req: Element) -> Element:
    root = single_response("GetRoomLists")
    sub(root, m("RoomLists"))
    return root


@operation("GetRooms")
def get_rooms(ctx: Ctx, req: Element) -> Element:
    """A room list is a distribution group; there are none to expand."""
    return single_response("GetRooms", NO_RESULTS)


@operation("ExpandDL")
def expand_dl(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("ExpandDL")
    address = text_of(child(req, "Mailbox"), "EmailAddress") or ""
    mailbox = ctx.store.mailbox(address)
    if mailbox is None:
        response_message(messages, "ExpandDL", NO_RESULTS)
    else:
        # A mailbox is not a distribution list.
        response_message(
            messages,
            "ExpandDL",
            EwsError("ErrorCannotExpandDL", "The given address is not a distribution list."),
        )
    return root


@operation("GetSearchableMailboxes")
def get_searchable_mailboxes(ctx: Ctx, req: Element) -> Element:
    return single_response(
        "GetSearchableMailboxes",
        EwsError("ErrorAccessDenied", "The caller does not have the Discovery Management role."),
    )
