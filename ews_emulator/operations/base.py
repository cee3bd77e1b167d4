"""What every EWS operation handler shares: the request context, the registry, id lookups."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from ..folder_tree import DISTINGUISHED_IDS
from ..mailstore import MailStore
from ..recurrence import occurrence_id, parse_occurrence_id
from ..soap import Element, EwsError, child, local, m, t, text_of
from ..store import Folder, ItemRow, Mailbox, Store


@dataclass
class Ctx:
    store: Store
    mail: MailStore
    auth: Mailbox
    target: Mailbox
    version: str
    stopping: threading.Event = field(default_factory=threading.Event)
    forced_error: EwsError | None = None

    def can_access(self, mailbox_id: int) -> bool:
        return mailbox_id == self.target.id or self.auth.is_impersonator


class Streamed:
    """A response written as a sequence of SOAP documents (GetStreamingEvents)."""

    def __init__(self, documents: Iterator[bytes]) -> None:
        self.documents = documents


Handler = Callable[[Ctx, Element], "Element | Streamed"]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        OPERATIONS[name] = fn
        return fn

    return register


def response_root(op: str) -> tuple[Element, Element]:
    root = etree.Element(m(f"{op}Response"))
    messages = etree.SubElement(root, m("ResponseMessages"))
    return root, messages


NOT_FOUND = "The specified object was not found in the store."


def resolve_folder(ctx: Ctx, elem: Element) -> Folder:
    """A FolderId or DistinguishedFolderId element to a folder the caller may use."""
    kind = local(elem.tag)
    if kind == "DistinguishedFolderId":
        mailbox = ctx.target
        owner = text_of(child(elem, "Mailbox"), "EmailAddress")
        if owner and owner.lower() != ctx.target.smtp.lower():
            other = ctx.store.mailbox(owner)
            if other is None:
                raise EwsError("ErrorNonExistentMailbox", f"No mailbox with address {owner}")
            if not ctx.can_access(other.id):
                raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials.")
            mailbox = other
        name = elem.get("Id", "")
        if name == "publicfoldersroot":
            # The emulated organization has no public folder mailbox.
            raise EwsError(
                "ErrorNoPublicFolderReplicaAvailable",
                "There are no public folder servers available.",
            )
        folder = (
            ctx.store.distinguished_folder(mailbox.id, name) if name in DISTINGUISHED_IDS else None
        )
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
        return folder
    if kind in ("FolderId", "ParentFolderId", "ToFolderId", "SavedItemFolderId"):
        folder_id = elem.get("Id", "")
        folder = ctx.store.folder(folder_id)
        if folder is None and not looks_like_id(folder_id):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
        if not ctx.can_access(folder.mailbox_id):
            raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials.")
        return folder
    raise EwsError("ErrorInvalidIdMalformed", f"Unsupported folder id element {kind}")


def folder_from_holder(ctx: Ctx, holder: Element | None) -> Folder | None:
    """The folder named inside a SavedItemFolderId/ToFolderId/ParentFolderId wrapper."""
    if holder is None or not len(holder):
        return None
    return resolve_folder(ctx, holder[0])


def resolve_item(ctx: Ctx, elem: Element) -> tuple[ItemRow, str | None]:
    """An ItemId element to the stored item and the change key the client sent.

    Occurrence ids resolve to the series master; callers handle them via `occurrence_of`.
    """
    item_id = elem.get("Id") or elem.get("RecurringMasterId") or elem.get("OccurrenceId") or ""
    if local(elem.tag) == "OccurrenceItemId":
        item_id = occurrence_id(item_id, int(elem.get("InstanceIndex", "0")))
    exact = ctx.store.item(item_id)
    occ = parse_occurrence_id(item_id) if exact is None else None
    lookup = occ[0] if occ else item_id
    if local(elem.tag) == "RecurringMasterItemId":
        occ_row = ctx.store.item(lookup)
        if occ_row is not None and occ_row.master_id:
            lookup = occ_row.master_id
    row = exact if exact is not None and lookup == item_id else ctx.store.item(lookup)
    if row is None or not ctx.can_access(row.mailbox_id):
        if row is None and not looks_like_id(item_id):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        raise EwsError("ErrorItemNotFound", NOT_FOUND)
    change_key = elem.get("ChangeKey")
    if change_key and not looks_like_id(change_key):
        raise EwsError("ErrorInvalidChangeKey", "The change key is invalid.")
    return row, change_key


def occurrence_of(elem: Element, row: ItemRow) -> int | None:
    """The index of the unmodified occurrence an id designates (None for stored items).

    A modified occurrence (an exception) is stored under its occurrence id, so it resolves
    to its own row; only the others resolve to their series master.
    """
    if local(elem.tag) == "OccurrenceItemId":
        index = int(elem.get("InstanceIndex", "0"))
        return None if row.id == occurrence_id(elem.get("RecurringMasterId", ""), index) else index
    item_id = elem.get("Id", "")
    occ = parse_occurrence_id(item_id)
    if occ is None or row.id == item_id:
        return None
    return occ[1]


def looks_like_id(value: str) -> bool:
    import base64
    import binascii

    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= 8


def id_elements(holder: Element | None) -> list[Element]:
    if holder is None:
        return []
    return [c for c in holder if isinstance(c.tag, str)]


def message_id_attr(elem: Element, tag: str = "ItemId") -> Element:
    return etree.Element(t(tag), elem.attrib)
