"""ExportItems and UploadItems: an item as an opaque blob, and back.

Exchange's blob is a full-fidelity FastTransfer stream that clients only store and send
back; here it is the base64 of the item's own XML and its attachments, equally opaque.
"""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from ..soap import Element, EwsError, child, children, local, m, parse_xml, response_message, sub
from .base import Ctx, id_elements, operation, resolve_folder, resolve_item, response_root

SERVER_SET = ("ItemId", "ParentFolderId")


@operation("ExportItems")
def export_items(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("ExportItems")
    for ident in id_elements(child(req, "ItemIds")):
        try:
            row, _ = resolve_item(ctx, ident)
        except EwsError as e:
            response_message(messages, "ExportItems", e)
            continue
        blob = etree.Element("export")
        blob.append(parse_xml(row.xml))
        holder = etree.SubElement(blob, "attachments")
        for _, xml in ctx.store.attachments(row.id):
            holder.append(parse_xml(xml))
        msg = response_message(messages, "ExportItems")
        sub(msg, m("ItemId"), Id=row.id, ChangeKey=row.change_key)
        sub(msg, m("Data"), base64.b64encode(etree.tostring(blob)).decode())
    return root


def _unpack(data: str | None) -> tuple[Element, list[Element]]:
    try:
        blob = parse_xml(base64.b64decode(data or "", validate=True))
    except (binascii.Error, ValueError, etree.XMLSyntaxError) as e:
        raise EwsError("ErrorInvalidRequest", "The Data element is not an exported item.") from e
    if blob.tag != "export" or not len(blob):
        raise EwsError("ErrorInvalidRequest", "The Data element is not an exported item.")
    item = blob[0]
    for name in SERVER_SET:
        for old in children(item, name):
            item.remove(old)
    holder = blob.find("attachments")
    return item, list(holder) if holder is not None else []


@operation("UploadItems")
def upload_items(ctx: Ctx, req: Element) -> Element:
    """CreateNew makes a new item (a new id) in ParentFolderId; Update replaces the content
    of ItemId (same id, new change key); UpdateOrCreate does the one that applies."""
    root, messages = response_root("UploadItems")
    for spec in id_elements(child(req, "Items")):
        try:
            parent = child(spec, "ParentFolderId")
            if parent is None:
                raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
            folder = resolve_folder(ctx, parent)
            item, attachments = _unpack(next((c.text for c in spec if local(c.tag) == "Data"), ""))
            action = spec.get("CreateAction", "CreateNew")
            target = child(spec, "ItemId")
            existing = None
            if action in ("Update", "UpdateOrCreate") and target is not None:
                try:
                    existing, _ = resolve_item(ctx, target)
                except EwsError:
                    if action == "Update":
                        raise
            elif action == "Update":
                raise EwsError("ErrorInvalidRequest", "Update needs an ItemId.")
            owner = ctx.store.mailbox_by_id(folder.mailbox_id)
            assert owner is not None
            with ctx.store.write() as c:
                if existing is None:
                    row = ctx.mail.create_item(c, owner, folder.id, item, attachments=attachments)
                else:

                    def replace(elem: Element, new: Element = item) -> set[str]:
                        for old in list(elem):
                            if local(old.tag) not in SERVER_SET:
                                elem.remove(old)
                        for part in new:
                            elem.append(part)
                        return {local(part.tag) for part in new}

                    row = ctx.mail.change_item(c, existing, replace)
        except EwsError as e:
            response_message(messages, "UploadItems", e)
            continue
        msg = response_message(messages, "UploadItems")
        sub(msg, m("ItemId"), Id=row.id, ChangeKey=row.change_key)
    return root
