"""GetFolder, FindFolder, CreateFolder, DeleteFolder, UpdateFolder, EmptyFolder,
SyncFolderHierarchy."""

from __future__ import annotations

from lxml import etree

from ..soap import (
    Element,
    EwsError,
    child,
    children,
    local,
    m,
    response_message,
    sub,
    t,
    text_of,
)
from ..store import HIDDEN_FOLDERS, Folder
from ..syncstate import decode_state, encode_state
from .base import Ctx, folder_from_holder, id_elements, operation, resolve_folder, response_root

FOLDER_KINDS = ("Folder", "CalendarFolder", "ContactsFolder", "TasksFolder", "SearchFolder")
KIND_CLASS = {
    "CalendarFolder": "IPF.Appointment",
    "ContactsFolder": "IPF.Contact",
    "TasksFolder": "IPF.Task",
}


def render_folder(ctx: Ctx, folder: Folder, *, id_only: bool = False) -> Element:
    elem = etree.Element(t(folder.kind))
    sub(elem, t("FolderId"), Id=folder.id, ChangeKey=folder.change_key)
    if id_only:
        return elem
    if folder.parent_id:
        parent = ctx.store.folder(folder.parent_id)
        sub(
            elem,
            t("ParentFolderId"),
            Id=folder.parent_id,
            ChangeKey=parent.change_key if parent else "",
        )
    if folder.folder_class:
        sub(elem, t("FolderClass"), folder.folder_class)
    sub(elem, t("DisplayName"), folder.display_name)
    total, unread, kids = ctx.store.folder_counts(folder.id)
    sub(elem, t("TotalCount"), str(total))
    sub(elem, t("ChildFolderCount"), str(kids))
    if folder.kind not in ("CalendarFolder", "ContactsFolder"):
        sub(elem, t("UnreadCount"), str(unread))
    return elem


def _folder_shape_id_only(req: Element) -> bool:
    shape = child(req, "FolderShape")
    additional = child(shape, "AdditionalProperties")
    return text_of(shape, "BaseShape") == "IdOnly" and (additional is None or not len(additional))


@operation("GetFolder")
def get_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("GetFolder")
    id_only = _folder_shape_id_only(req)
    for ident in id_elements(child(req, "FolderIds")):
        try:
            folder = resolve_folder(ctx, ident)
        except EwsError as e:
            response_message(messages, "GetFolder", e)
            continue
        msg = response_message(messages, "GetFolder")
        sub(msg, m("Folders")).append(render_folder(ctx, folder, id_only=id_only))
    return root


def _visible_children(ctx: Ctx, folder: Folder) -> list[Folder]:
    return [f for f in ctx.store.child_folders(folder.id) if f.distinguished not in HIDDEN_FOLDERS]


def _descendants(ctx: Ctx, folder: Folder) -> list[Folder]:
    out: list[Folder] = []
    todo = _visible_children(ctx, folder)
    while todo:
        f = todo.pop(0)
        out.append(f)
        todo[0:0] = _visible_children(ctx, f)
    return out


def _folder_matches(folder: Folder, restriction: Element | None) -> bool:
    if restriction is None or not len(restriction):
        return True
    node = restriction[0]
    op = local(node.tag)
    if op == "IsEqualTo" and len(node) == 2:
        constant = node[1][0].get("Value", "") if len(node[1]) else ""
        uri = node[0].get("FieldURI", "")
        if uri == "folder:DisplayName":
            return folder.display_name.casefold() == constant.casefold()
        if uri == "folder:FolderClass":
            return (folder.folder_class or "") == constant
    if op == "Contains":
        constant_el = child(node, "Constant")
        needle = (constant_el.get("Value", "") if constant_el is not None else "").casefold()
        return needle in folder.display_name.casefold()
    return True


@operation("FindFolder")
def find_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("FindFolder")
    deep = req.get("Traversal", "Shallow") == "Deep"
    id_only = _folder_shape_id_only(req)
    view = child(req, "IndexedPageFolderView")
    restriction = child(req, "Restriction")
    for ident in id_elements(child(req, "ParentFolderIds")):
        try:
            parent = resolve_folder(ctx, ident)
        except EwsError as e:
            response_message(messages, "FindFolder", e)
            continue
        found = _descendants(ctx, parent) if deep else _visible_children(ctx, parent)
        found = [f for f in found if _folder_matches(f, restriction)]
        total = len(found)
        offset = 0
        if view is not None:
            offset = int(view.get("Offset", "0"))
            size = int(view.get("MaxEntriesReturned", str(total or 1)))
            if view.get("BasePoint") == "End":
                offset = max(total - offset - size, 0)
            page = found[offset : offset + size]
        else:
            page = found
        msg = response_message(messages, "FindFolder")
        last = offset + len(page) >= total
        attrs = {
            "TotalItemsInView": str(total),
            "IncludesLastItemInRange": "true" if last else "false",
        }
        if view is not None:
            attrs["IndexedPagingOffset"] = str(offset + len(page))
        holder = sub(msg, m("RootFolder"), **attrs)
        folders = sub(holder, t("Folders"))
        for f in page:
            folders.append(render_folder(ctx, f, id_only=id_only))
    return root


@operation("CreateFolder")
def create_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("CreateFolder")
    try:
        parent = folder_from_holder(ctx, child(req, "ParentFolderId"))
    except EwsError as e:
        parent = None
        error: EwsError | None = e
    else:
        error = None
    for spec in id_elements(child(req, "Folders")):
        if parent is None:
            response_message(messages, "CreateFolder", error or EwsError("ErrorFolderNotFound"))
            continue
        kind = local(spec.tag) if local(spec.tag) in FOLDER_KINDS else "Folder"
        name = text_of(spec, "DisplayName") or ""
        folder_class = text_of(spec, "FolderClass") or KIND_CLASS.get(kind, "IPF.Note")
        if any(
            f.display_name.casefold() == name.casefold() for f in _visible_children(ctx, parent)
        ):
            response_message(
                messages,
                "CreateFolder",
                EwsError("ErrorFolderExists", "A folder with the specified name already exists."),
            )
            continue
        with ctx.store.write() as c:
            folder = ctx.store.create_folder(c, parent, name, folder_class, kind)
        msg = response_message(messages, "CreateFolder")
        sub(msg, m("Folders")).append(render_folder(ctx, folder, id_only=True))
    return root


@operation("DeleteFolder")
def delete_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("DeleteFolder")
    for ident in id_elements(child(req, "FolderIds")):
        try:
            folder = resolve_folder(ctx, ident)
            if folder.distinguished:
                raise EwsError(
                    "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted."
                )
            with ctx.store.write() as c:
                ctx.store.delete_folder(c, folder)
        except EwsError as e:
            response_message(messages, "DeleteFolder", e)
            continue
        response_message(messages, "DeleteFolder")
    return root


@operation("UpdateFolder")
def update_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("UpdateFolder")
    for change in children(child(req, "FolderChanges"), "FolderChange"):
        try:
            folder = resolve_folder(ctx, change[0])
            updates = child(change, "Updates")
            with ctx.store.write() as c:
                for upd in updates if updates is not None else []:
                    if local(upd.tag) == "SetFolderField":
                        name = text_of(upd[1], "DisplayName")
                        if name is not None:
                            folder.display_name = name
                        fclass = text_of(upd[1], "FolderClass")
                        if fclass is not None:
                            folder.folder_class = fclass
                from ..soap import new_change_key

                seq = ctx.store.next_seq(c, folder.mailbox_id)
                folder.change_key = new_change_key()
                c.execute(
                    "UPDATE folders SET display_name=?, folder_class=?, change_key=?, seq=? "
                    "WHERE id=?",
                    (folder.display_name, folder.folder_class, folder.change_key, seq, folder.id),
                )
                ctx.store.add_event(
                    c,
                    folder.mailbox_id,
                    "ModifiedEvent",
                    folder.id,
                    folder.parent_id or "",
                    is_folder=True,
                )
        except EwsError as e:
            response_message(messages, "UpdateFolder", e)
            continue
        msg = response_message(messages, "UpdateFolder")
        sub(msg, m("Folders")).append(render_folder(ctx, folder, id_only=True))
    return root


@operation("EmptyFolder")
def empty_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("EmptyFolder")
    mode = req.get("DeleteType", "HardDelete")
    for ident in id_elements(child(req, "FolderIds")):
        try:
            folder = resolve_folder(ctx, ident)
            with ctx.store.write() as c:
                for row in ctx.store.items_in_folder(folder.id):
                    ctx.mail.delete_item(c, row, mode)
        except EwsError as e:
            response_message(messages, "EmptyFolder", e)
            continue
        response_message(messages, "EmptyFolder")
    return root


@operation("SyncFolderHierarchy")
def sync_folder_hierarchy(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("SyncFolderHierarchy")
    try:
        holder = child(req, "SyncFolderId")
        base = folder_from_holder(ctx, holder)
        if base is None:
            base = ctx.store.distinguished_folder(ctx.target.id, "msgfolderroot")
        assert base is not None
        state_text = text_of(req, "SyncState")
        after = decode_state(ctx.store, state_text, "H", base.id) if state_text else 0
    except EwsError as e:
        msg = response_message(messages, "SyncFolderHierarchy", e)
        sub(msg, m("SyncState"))
        sub(msg, m("IncludesLastFolderInRange"), "true")
        return root
    id_only = _folder_shape_id_only(req)
    subtree = {f.id for f in _descendants(ctx, base)}
    msg = response_message(messages, "SyncFolderHierarchy")
    current = ctx.store.current_seq(base.mailbox_id)
    changes_el = etree.Element(m("Changes"))
    for folder in ctx.store.folder_changes(base.mailbox_id, after):
        if folder.id == base.id or folder.distinguished in HIDDEN_FOLDERS or folder.seq > current:
            continue
        if folder.deleted:
            if folder.entered_seq <= after:
                sub(sub(changes_el, t("Delete")), t("FolderId"), Id=folder.id)
            continue
        if folder.id not in subtree:
            continue
        change = sub(changes_el, t("Create" if folder.entered_seq > after else "Update"))
        change.append(render_folder(ctx, folder, id_only=id_only))
    sub(msg, m("SyncState"), encode_state(ctx.store, "H", base.id, current))
    sub(msg, m("IncludesLastFolderInRange"), "true")
    msg.append(changes_el)
    return root
