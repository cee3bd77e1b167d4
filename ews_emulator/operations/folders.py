"""GetFolder, FindFolder, CreateFolder, DeleteFolder, UpdateFolder, EmptyFolder,
SyncFolderHierarchy."""

from __future__ import annotations

from lxml import etree

from ..restrictions import compile_restriction
from ..soap import (
    Element,
    EwsError,
    child,
    children,
    local,
    m,
    new_change_key,
    parse_xml,
    response_message,
    sub,
    t,
    text_of,
)
from ..store import HIDDEN_FOLDERS, Folder
from ..syncstate import decode_state, encode_state
from .base import (
    NOT_FOUND,
    Ctx,
    folder_from_holder,
    id_elements,
    operation,
    resolve_folder,
    response_root,
)

FOLDER_KINDS = ("Folder", "CalendarFolder", "ContactsFolder", "TasksFolder", "SearchFolder")
KIND_CLASS = {
    "CalendarFolder": "IPF.Appointment",
    "ContactsFolder": "IPF.Contact",
    "TasksFolder": "IPF.Task",
}


# FolderShape BaseShape "Default": the id, the name and the counts.
DEFAULT_FOLDER_FIELDS = frozenset(
    ("folder:DisplayName", "folder:TotalCount", "folder:ChildFolderCount", "folder:UnreadCount")
)


def render_folder(ctx: Ctx, folder: Folder, *, fields: frozenset[str] | None = None) -> Element:
    """A folder element with the FieldURIs in `fields` (every property when None)."""
    elem = etree.Element(t(folder.kind))
    sub(elem, t("FolderId"), Id=folder.id, ChangeKey=folder.change_key)

    def wanted(uri: str) -> bool:
        return fields is None or uri in fields

    if folder.parent_id and wanted("folder:ParentFolderId"):
        parent = ctx.store.folder(folder.parent_id)
        sub(
            elem,
            t("ParentFolderId"),
            Id=folder.parent_id,
            ChangeKey=parent.change_key if parent else "",
        )
    if folder.folder_class and wanted("folder:FolderClass"):
        sub(elem, t("FolderClass"), folder.folder_class)
    if wanted("folder:DisplayName"):
        sub(elem, t("DisplayName"), folder.display_name)
    total, unread, kids = ctx.store.folder_counts(folder.id)
    if wanted("folder:TotalCount"):
        sub(elem, t("TotalCount"), str(total))
    if wanted("folder:ChildFolderCount"):
        sub(elem, t("ChildFolderCount"), str(kids))
    if wanted("folder:PermissionSet"):
        elem.append(_permission_set(ctx, folder))
    if folder.kind not in ("CalendarFolder", "ContactsFolder") and wanted("folder:UnreadCount"):
        sub(elem, t("UnreadCount"), str(unread))
    return elem


PERMISSIONS = "permissions"


def _permission_set(ctx: Ctx, folder: Folder) -> Element:
    """The folder's PermissionSet as last set; by default the Default and Anonymous users
    have no rights (a calendar shows Default its free/busy times), as in a new mailbox
    ("PermissionSet (PermissionSetType)",
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/permissionset-permissionsettype)."""
    stored = ctx.store.setting(folder.mailbox_id, PERMISSIONS, folder.id)
    if stored is not None:
        return parse_xml(stored)
    calendar = folder.kind == "CalendarFolder"
    permission_set = etree.Element(t("PermissionSet"))
    holder = sub(permission_set, t("CalendarPermissions" if calendar else "Permissions"))
    for user, level in (
        ("Default", "FreeBusyTimeOnly" if calendar else "None"),
        ("Anonymous", "None"),
    ):
        permission = sub(holder, t("CalendarPermission" if calendar else "Permission"))
        sub(sub(permission, t("UserId")), t("DistinguishedUser"), user)
        for flag in ("CanCreateItems", "CanCreateSubFolders", "IsFolderOwner"):
            sub(permission, t(flag), "false")
        sub(permission, t("IsFolderVisible"), "false")
        sub(permission, t("IsFolderContact"), "false")
        for right in ("EditItems", "DeleteItems"):
            sub(permission, t(right), "None")
        if calendar:
            sub(permission, t("ReadItems"), "TimeOnly" if user == "Default" else "None")
            sub(permission, t("CalendarPermissionLevel"), level)
        else:
            sub(permission, t("ReadItems"), "None")
            sub(permission, t("PermissionLevel"), level)
    return permission_set


ID_ONLY: frozenset[str] = frozenset()


def folder_fields(req: Element) -> frozenset[str] | None:
    """The FieldURIs a FolderShape asks for (None: AllProperties)."""
    shape = child(req, "FolderShape")
    base = text_of(shape, "BaseShape") or "Default"
    if base == "AllProperties":
        return None
    additional = child(shape, "AdditionalProperties")
    extra = {p.get("FieldURI", "") for p in additional} if additional is not None else set()
    return frozenset(extra | (DEFAULT_FOLDER_FIELDS if base == "Default" else set()))


@operation("GetFolder")
def get_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("GetFolder")
    fields = folder_fields(req)
    for ident in id_elements(child(req, "FolderIds")):
        try:
            folder = resolve_folder(ctx, ident)
        except EwsError as e:
            response_message(messages, "GetFolder", e)
            continue
        msg = response_message(messages, "GetFolder")
        sub(msg, m("Folders")).append(render_folder(ctx, folder, fields=fields))
    return root


def _visible_children(ctx: Ctx, folder: Folder) -> list[Folder]:
    return ctx.store.child_folders(folder.id)


def _descendants(ctx: Ctx, folder: Folder) -> list[Folder]:
    out: list[Folder] = []
    todo = _visible_children(ctx, folder)
    while todo:
        f = todo.pop(0)
        out.append(f)
        todo[0:0] = _visible_children(ctx, f)
    return out


def _folder_matches(ctx: Ctx, folder: Folder, restriction: Element | None) -> bool:
    """FindFolder's restriction on one folder. Display names compare case-insensitively
    for IsEqualTo (as Exchange's folder lookups do); Contains honours its
    ContainmentComparison like item restrictions."""
    if restriction is None or not len(restriction):
        return True
    node = restriction[0]
    if local(node.tag) == "IsEqualTo" and len(node) == 2 and len(node[1]):
        constant = node[1][0].get("Value", "")
        if node[0].get("FieldURI", "") == "folder:DisplayName":
            return folder.display_name.casefold() == constant.casefold()
    return compile_restriction(node)(render_folder(ctx, folder))


@operation("FindFolder")
def find_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("FindFolder")
    deep = req.get("Traversal", "Shallow") == "Deep"
    fields = folder_fields(req)
    view = child(req, "IndexedPageFolderView")
    restriction = child(req, "Restriction")
    for ident in id_elements(child(req, "ParentFolderIds")):
        try:
            parent = resolve_folder(ctx, ident)
        except EwsError as e:
            response_message(messages, "FindFolder", e)
            continue
        found = _descendants(ctx, parent) if deep else _visible_children(ctx, parent)
        found = [f for f in found if _folder_matches(ctx, f, restriction)]
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
            folders.append(render_folder(ctx, f, fields=fields))
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
        # A <t:Folder> created without a FolderClass has none (Exchange does not make it a
        # mail folder); the typed folder elements imply theirs.
        folder_class = text_of(spec, "FolderClass") or KIND_CLASS.get(kind)
        if any(
            f.display_name.casefold() == name.casefold() for f in _visible_children(ctx, parent)
        ):
            response_message(
                messages,
                "CreateFolder",
                EwsError("ErrorFolderExists", f"Could not create folder '{name}'."),
            )
            continue
        with ctx.store.write() as c:
            folder = ctx.store.create_folder(c, parent, name, folder_class, kind)
        msg = response_message(messages, "CreateFolder")
        sub(msg, m("Folders")).append(render_folder(ctx, folder, fields=ID_ONLY))
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


def _folder_to_update(ctx: Ctx, ident: Element) -> Folder:
    """The folder a FolderChange names. The id of a folder that no longer exists (deleted)
    is ErrorItemNotFound, as Exchange answers (README, "UpdateFolder"); a distinguished
    folder a mailbox lacks stays ErrorFolderNotFound."""
    try:
        return resolve_folder(ctx, ident)
    except EwsError as e:
        if e.code == "ErrorFolderNotFound" and local(ident.tag) == "FolderId":
            raise EwsError("ErrorItemNotFound", NOT_FOUND) from e
        raise


@operation("UpdateFolder")
def update_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("UpdateFolder")
    for change in children(child(req, "FolderChanges"), "FolderChange"):
        try:
            folder = _folder_to_update(ctx, change[0])
            updates = child(change, "Updates")
            with ctx.store.write() as c:
                for upd in updates if updates is not None else []:
                    if local(upd.tag) == "SetFolderField":
                        name = text_of(upd[1], "DisplayName")
                        if name is not None:
                            folder.display_name = name
                        fclass = text_of(upd[1], "FolderClass")
                        if fclass is not None and folder.folder_class not in (None, fclass):
                            raise EwsError(
                                "ErrorObjectTypeChanged", "The folder class cannot be changed."
                            )
                        if fclass is not None:
                            folder.folder_class = fclass
                        permission_set = child(upd[1], "PermissionSet")
                        if permission_set is not None:
                            ctx.store.put_setting(
                                folder.mailbox_id,
                                PERMISSIONS,
                                folder.id,
                                etree.tostring(permission_set),
                            )
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
        sub(msg, m("Folders")).append(render_folder(ctx, folder, fields=ID_ONLY))
    return root


@operation("EmptyFolder")
def empty_folder(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("EmptyFolder")
    mode = req.get("DeleteType", "HardDelete")
    subfolders = req.get("DeleteSubFolders", "false") == "true"
    for ident in id_elements(child(req, "FolderIds")):
        try:
            folder = resolve_folder(ctx, ident)
            with ctx.store.write() as c:
                for row in ctx.store.items_in_folder(folder.id):
                    ctx.mail.delete_item(c, row, mode)
                if subfolders:
                    for sub_folder in ctx.store.child_folders(folder.id):
                        if not sub_folder.distinguished:
                            ctx.store.delete_folder(c, sub_folder)
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
    fields = folder_fields(req)
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
        change.append(render_folder(ctx, folder, fields=fields))
    sub(msg, m("SyncState"), encode_state(ctx.store, "H", base.id, current))
    sub(msg, m("IncludesLastFolderInRange"), "true")
    msg.append(changes_el)
    return root


@operation("MoveFolder")
def move_folder(ctx: Ctx, req: Element) -> Element:
    """Re-parent folders. A folder keeps its id (only items get new ids when they move);
    its change key changes. Standard folders cannot be moved."""
    root, messages = response_root("MoveFolder")
    error: EwsError | None = None
    target: Folder | None = None
    try:
        target = folder_from_holder(ctx, child(req, "ToFolderId"))
    except EwsError as e:
        error = e
    for ident in id_elements(child(req, "FolderIds")):
        try:
            if target is None:
                raise error or EwsError("ErrorFolderNotFound", "The target folder was not found.")
            folder = resolve_folder(ctx, ident)
            if folder.distinguished:
                raise EwsError(
                    "ErrorMoveDistinguishedFolder", "Distinguished folders cannot be moved."
                )
            ancestor: Folder | None = target
            while ancestor is not None:
                if ancestor.id == folder.id:
                    raise EwsError("ErrorMoveCopyFailed", "A folder cannot move below itself.")
                ancestor = ctx.store.folder(ancestor.parent_id) if ancestor.parent_id else None
            with ctx.store.write() as c:
                seq = ctx.store.next_seq(c, folder.mailbox_id)
                old_parent = folder.parent_id or ""
                folder.parent_id, folder.change_key = target.id, new_change_key()
                c.execute(
                    "UPDATE folders SET parent_id = ?, change_key = ?, seq = ? WHERE id = ?",
                    (target.id, folder.change_key, seq, folder.id),
                )
                ctx.store.add_event(
                    c,
                    folder.mailbox_id,
                    "MovedEvent",
                    folder.id,
                    target.id,
                    folder.id,
                    old_parent,
                    is_folder=True,
                )
        except EwsError as e:
            response_message(messages, "MoveFolder", e)
            continue
        msg = response_message(messages, "MoveFolder")
        sub(msg, m("Folders")).append(render_folder(ctx, folder, fields=ID_ONLY))
    return root
