"""ResolveNames, ConvertId and the attachment operations."""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from .. import items as itm
from ..soap import (
    Element,
    EwsError,
    child,
    local,
    m,
    parse_xml,
    response_message,
    sub,
    t,
    text_of,
)
from .base import Ctx, id_elements, looks_like_id, operation, resolve_item, response_root


@operation("ResolveNames")
def resolve_names(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("ResolveNames")
    entry = (text_of(req, "UnresolvedEntry") or "").strip()
    needle = entry.lower().removeprefix("smtp:")
    matches = []
    for mb in ctx.store.mailboxes():
        if not mb.has_mailbox:
            continue
        if mb.smtp.lower() == needle:
            matches = [mb]
            break
        if needle and (needle in mb.smtp.lower() or needle in mb.display_name.lower()):
            matches.append(mb)
    if not matches:
        response_message(
            messages,
            "ResolveNames",
            EwsError("ErrorNameResolutionNoResults", "No results were found."),
        )
        return root
    if len(matches) > 1:
        msg = response_message(
            messages,
            "ResolveNames",
            EwsError("ErrorNameResolutionMultipleResults", "Multiple results were found."),
            warning=True,
        )
    else:
        msg = response_message(messages, "ResolveNames")
    holder = sub(
        msg,
        m("ResolutionSet"),
        TotalItemsInView=str(len(matches)),
        IncludesLastItemInRange="true",
    )
    full = req.get("ReturnFullContactData", "false").lower() == "true"
    for mb in matches:
        resolution = sub(holder, t("Resolution"))
        resolution.append(itm.mailbox_elem(t("Mailbox"), mb.display_name, mb.smtp))
        if full:
            contact = sub(resolution, t("Contact"))
            sub(contact, t("DisplayName"), mb.display_name)
            emails = sub(contact, t("EmailAddresses"))
            sub(emails, t("Entry"), f"SMTP:{mb.smtp}", Key="EmailAddress1")
            sub(contact, t("ContactSource"), "ActiveDirectory")
    return root


def _id_bytes(value: str, fmt: str) -> bytes:
    """The store id behind an id in one of ConvertId's formats."""
    if fmt == "HexEntryId":
        return bytes.fromhex(value)
    padded = value + "=" * (-len(value) % 4)
    if fmt == "OwaId":
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)


def _id_text(raw: bytes, fmt: str) -> str:
    if fmt == "HexEntryId":
        return raw.hex().upper()
    if fmt == "OwaId":
        return base64.urlsafe_b64encode(raw).decode()
    return base64.b64encode(raw).decode()


ID_FORMATS = ("EwsLegacyId", "EwsId", "EntryId", "HexEntryId", "StoreId", "OwaId")


@operation("ConvertId")
def convert_id(ctx: Ctx, req: Element) -> Element:
    """Every format of "ConvertId operation" carries the same store id here: EwsId,
    EwsLegacyId, EntryId and StoreId as base64, HexEntryId as hexadecimal, OwaId as
    URL-safe base64; conversions round-trip."""
    root, messages = response_root("ConvertId")
    destination = req.get("DestinationFormat", "EwsId")
    for source in id_elements(child(req, "SourceIds")):
        fmt = source.get("Format", "")
        try:
            if destination not in ID_FORMATS or fmt not in ID_FORMATS:
                raise ValueError(fmt)
            raw = _id_bytes(source.get("Id", ""), fmt)
        except (ValueError, binascii.Error):
            response_message(
                messages, "ConvertId", EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            )
            continue
        msg = response_message(messages, "ConvertId")
        converted = etree.SubElement(msg, m("AlternateId"), dict(source.attrib))
        converted.set("Format", destination)
        converted.set("Id", _id_text(raw, destination))
        converted.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")
    return root


@operation("CreateAttachment")
def create_attachment(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("CreateAttachment")
    parent = child(req, "ParentItemId")
    for att in id_elements(child(req, "Attachments")):
        try:
            if parent is None:
                raise EwsError("ErrorInvalidRequest", "No ParentItemId")
            row, _ = resolve_item(ctx, parent)
            with ctx.store.write() as c:
                fresh = ctx.store.item(row.id) or row
                att_id, updated = ctx.mail.add_attachment(c, fresh, att)
        except EwsError as e:
            response_message(messages, "CreateAttachment", e)
            continue
        msg = response_message(messages, "CreateAttachment")
        holder = sub(msg, m("Attachments"))
        out = sub(holder, t(local(att.tag)))
        sub(
            out,
            t("AttachmentId"),
            Id=att_id,
            RootItemId=updated.id,
            RootItemChangeKey=updated.change_key,
        )
    return root


@operation("GetAttachment")
def get_attachment(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("GetAttachment")
    body_type = text_of(child(req, "AttachmentShape"), "BodyType") or "Best"
    for ident in id_elements(child(req, "AttachmentIds")):
        found = ctx.store.attachment(ident.get("Id", ""))
        row = ctx.store.item(found[0]) if found else None
        if found is None or row is None or not ctx.can_access(row.mailbox_id):
            malformed = found is None and not looks_like_id(ident.get("Id", ""))
            error = (
                EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
                if malformed
                else EwsError("ErrorInvalidAttachmentId", "The attachment could not be found.")
            )
            response_message(messages, "GetAttachment", error)
            continue
        msg = response_message(messages, "GetAttachment")
        attachment = parse_xml(found[1])
        for embedded in attachment:
            # An item attachment's item comes with its TextBody, in the BodyType asked for.
            if local(embedded.tag) in itm.KIND_FOR_TAG:
                itm.with_text_body(embedded)
                itm.convert_body(embedded, body_type)
        sub(msg, m("Attachments")).append(attachment)
    return root


@operation("DeleteAttachment")
def delete_attachment(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("DeleteAttachment")
    for ident in id_elements(child(req, "AttachmentIds")):
        try:
            found = ctx.store.attachment(ident.get("Id", ""))
            row = ctx.store.item(found[0]) if found else None
            if found is None or row is None or not ctx.can_access(row.mailbox_id):
                raise EwsError("ErrorInvalidAttachmentId", "The attachment could not be found.")
            with ctx.store.write() as c:
                updated = ctx.mail.delete_attachment(c, ident.get("Id", ""))
        except EwsError as e:
            response_message(messages, "DeleteAttachment", e)
            continue
        msg = response_message(messages, "DeleteAttachment")
        sub(msg, m("RootItemId"), RootItemId=updated.id, RootItemChangeKey=updated.change_key)
    return root
