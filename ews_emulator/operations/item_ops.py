"""GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem, CopyItem, SendItem."""

from __future__ import annotations

import sqlite3

from lxml import etree

from .. import items as itm
from ..messages import apply_mime
from ..soap import (
    T_NSMAP,
    Element,
    EwsError,
    child,
    children,
    fmt_dt,
    local,
    m,
    parse_xml,
    response_message,
    sub,
    t,
    text_of,
    utcnow,
)
from ..store import ItemRow
from . import calendar as cal
from . import responses as rsp
from . import tasks
from .base import (
    NOT_FOUND,
    Ctx,
    folder_from_holder,
    id_elements,
    occurrence_of,
    operation,
    resolve_item,
    response_root,
)

SEND_INVITES = (
    "SendOnlyToAll",
    "SendToAllAndSaveCopy",
    "SendOnlyToChanged",
    "SendToChangedAndSaveCopy",
)


def _id_only(row: ItemRow, *, with_attachments: bool = False) -> Element:
    if with_attachments:
        return itm.Shape(base="IdOnly", names={"Attachments"}).render(row.xml)
    elem = etree.Element(t(row.kind), nsmap=T_NSMAP)
    sub(elem, t("ItemId"), Id=row.id, ChangeKey=row.change_key)
    return elem


@operation("GetItem")
def get_item(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("GetItem")
    shape = itm.Shape.parse(child(req, "ItemShape"))
    for ident in id_elements(child(req, "ItemIds")):
        try:
            row, _ = resolve_item(ctx, ident)
            index = occurrence_of(ident, row)
            if index is not None:
                view = cal.occurrence_view(ctx, row, index)
                elem = shape.render(view if isinstance(view, bytes) else etree.tostring(view))
            else:
                elem = shape.render(row.xml)
        except EwsError as e:
            response_message(messages, "GetItem", e)
            continue
        msg = response_message(messages, "GetItem")
        sub(msg, m("Items")).append(elem)
    return root


def _send_message(
    ctx: Ctx, c: sqlite3.Connection, elem: Element, attachments: list[Element]
) -> None:
    """Deliver a copy to the Inbox of every emulator mailbox among the recipients."""
    for recipient in ctx.mail.recipients(elem, "ToRecipients", "CcRecipients", "BccRecipients"):
        copies = [parse_xml(etree.tostring(a)) for a in attachments]
        ctx.mail.deliver_message(c, recipient, elem, copies)


def _split_attachments(spec: Element) -> list[Element]:
    out: list[Element] = []
    for holder in children(spec, "Attachments"):
        out.extend(a for a in holder if isinstance(a.tag, str))
        spec.remove(holder)
    return out


@operation("CreateItem")
def create_item(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("CreateItem")
    disposition = req.get("MessageDisposition") or "SaveOnly"
    invitations = req.get("SendMeetingInvitations") or "SendToNone"
    try:
        saved_folder = folder_from_holder(ctx, child(req, "SavedItemFolderId"))
        folder_error = None
    except EwsError as e:
        saved_folder, folder_error = None, e
    for spec in id_elements(child(req, "Items")):
        if folder_error is not None:
            response_message(messages, "CreateItem", folder_error)
            continue
        kind = itm.KIND_FOR_TAG.get(local(spec.tag))
        try:
            if local(spec.tag) in rsp.RESPONSE_TAGS:
                result = _create_response(ctx, spec, disposition, saved_folder)
                msg = response_message(messages, "CreateItem")
                items_el = sub(msg, m("Items"))
                if result is not None:
                    items_el.append(_id_only(result))
                continue
            if kind is None:
                raise EwsError("ErrorInvalidRequest", f"Cannot create {local(spec.tag)} items")
            attachments = _split_attachments(spec)
            if kind in itm.MESSAGE_KINDS:
                attachments = attachments or apply_mime(spec)
            result = _create_one(
                ctx, spec, kind, attachments, disposition, invitations, saved_folder
            )
        except EwsError as e:
            response_message(messages, "CreateItem", e)
            continue
        msg = response_message(messages, "CreateItem")
        items_el = sub(msg, m("Items"))
        if result is not None:
            items_el.append(_id_only(result, with_attachments=True))
    return root


def _create_response(
    ctx: Ctx, spec: Element, disposition: str, saved_folder: object
) -> ItemRow | None:
    """A response object: the message it makes is saved or sent like any message; meeting
    responses and cancellations answer the calendar item they changed."""
    tag = local(spec.tag)
    with ctx.store.write() as c:
        if tag in rsp.MESSAGE_RESPONSES:
            msg, attachments = rsp.message_response(ctx, spec)
            return _create_one(
                ctx, msg, "Message", attachments, disposition, "SendToNone", saved_folder
            )
        if tag in rsp.MEETING_RESPONSES:
            msg, item = rsp.meeting_response(ctx, c, spec)
            kind = "MeetingResponse"
        else:
            msg, item = rsp.cancellation(ctx, c, spec)
            kind = "MeetingCancellation"
        saved = _create_one(ctx, msg, kind, [], disposition, "SendToNone", saved_folder)
        return saved or ctx.store.item(item.id)


def _create_one(
    ctx: Ctx,
    spec: Element,
    kind: str,
    attachments: list[Element],
    disposition: str,
    invitations: str,
    saved_folder: object,
) -> ItemRow | None:
    from ..store import Folder

    folder = saved_folder if isinstance(saved_folder, Folder) else None
    mailbox = ctx.target
    if folder is not None and folder.mailbox_id != mailbox.id:
        owner = ctx.store.mailbox_by_id(folder.mailbox_id)
        assert owner is not None
        mailbox = owner
    with ctx.store.write() as c:
        if kind in itm.MESSAGE_KINDS and disposition != "SaveOnly":
            if not any(
                holder.find(t("Mailbox")) is not None
                for name in ("ToRecipients", "CcRecipients", "BccRecipients")
                for holder in children(spec, name)
            ):
                raise EwsError("ErrorInvalidRecipients", "At least one recipient isn't valid.")
            for name in ("IsDraft", "IsRead", "DateTimeSent"):
                for old in children(spec, name):
                    spec.remove(old)
            sub(spec, t("IsDraft"), "false")
            sub(spec, t("IsRead"), "true")
            sub(spec, t("DateTimeSent"), fmt_dt(utcnow()))
            row = None
            if disposition == "SendAndSaveCopy":
                target = folder or ctx.mail.default_folder(mailbox, kind, disposition)
                keep = [parse_xml(etree.tostring(a)) for a in attachments]
                row = ctx.mail.create_item(c, mailbox, target.id, spec, attachments=keep)
                spec = parse_xml(row.xml)
            else:
                itm.prepare_new(spec, kind, mailbox.smtp, mailbox.display_name, fmt_dt(utcnow()))
            _send_message(ctx, c, spec, attachments)
            return None
        target = folder or ctx.mail.default_folder(mailbox, kind, disposition)
        row = ctx.mail.create_item(c, mailbox, target.id, spec, attachments=attachments)
        if kind == "CalendarItem" and invitations in SEND_INVITES:
            cal.send_invitations(ctx, c, row)
            row = ctx.store.item(row.id) or row
        return row


def _apply_updates(updates: Element | None, kind: str) -> itm.Callable[[Element], set[str]]:
    def mutate(elem: Element) -> set[str]:
        touched: set[str] = set()
        for upd in updates if updates is not None else []:
            op = local(upd.tag)
            if op == "SetItemField":
                touched |= itm.apply_set(elem, kind, upd)
            elif op == "AppendToItemField":
                touched |= itm.apply_append(elem, kind, upd)
            elif op == "DeleteItemField":
                touched |= itm.apply_delete(elem, kind, upd)
        return touched

    return mutate


@operation("UpdateItem")
def update_item(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("UpdateItem")
    conflict = req.get("ConflictResolution", "AutoResolve")
    disposition = req.get("MessageDisposition")
    invitations = req.get("SendMeetingInvitationsOrCancellations", "SendToNone")
    # One transaction for the request, each change in a savepoint of its own (a refused
    # change writes nothing): a commit per change was a large part of the work of
    # marking many items.
    with ctx.store.write():
        for change in children(child(req, "ItemChanges"), "ItemChange"):
            try:
                with ctx.store.savepoint():
                    row = _update_one(ctx, change, conflict, disposition, invitations)
            except EwsError as e:
                response_message(messages, "UpdateItem", e)
                continue
            msg = response_message(messages, "UpdateItem")
            items_el = sub(msg, m("Items"))
            if row is not None:
                items_el.append(_id_only(row))
            results = sub(msg, m("ConflictResults"))
            sub(results, t("Count"), "0")
    return root


def _update_one(
    ctx: Ctx, change: Element, conflict: str, disposition: str | None, invitations: str
) -> ItemRow | None:
    # Within the request's write transaction (`update_item`): the row read is current.
    ident = change[0]
    row, change_key = resolve_item(ctx, ident)
    index = occurrence_of(ident, row)
    with ctx.store.write() as c:
        if not change_key and conflict == "AutoResolve":
            raise EwsError("ErrorChangeKeyRequired", "The change key is required.")
        if index is not None:
            row = cal.materialize_occurrence(ctx, c, row, index)
        elif change_key and change_key != row.change_key and conflict != "AlwaysOverwrite":
            raise EwsError("ErrorIrresolvableConflict", STALE_CHANGE_KEY)
        mutate = _apply_updates(child(change, "Updates"), row.kind)
        if row.kind == "Task":
            # A recurring task may generate a one-off, whose id is answered.
            return tasks.update_task(ctx.mail, c, row, mutate)
        row = ctx.mail.change_item(c, row, mutate)
        rewritten = False  # the item written again since (its answered change key moved)
        if row.master_id:
            cal.exception_changed(ctx, c, row)
            rewritten = True
        if row.kind == "CalendarItem" and invitations in SEND_INVITES:
            rewritten = True
            target = ctx.store.item(row.master_id) if row.master_id else row
            if target is not None:
                # A meeting never sent before (an appointment given attendees) goes out as a
                # new meeting request, one already sent as a full update (MeetingRequestType).
                sent = text_of(parse_xml(target.xml), "MeetingRequestWasSent") == "true"
                cal.send_invitations(ctx, c, target, update=sent)
        if row.kind in itm.MESSAGE_KINDS and disposition in ("SendOnly", "SendAndSaveCopy"):
            _send_existing(ctx, c, row, save=disposition == "SendAndSaveCopy", folder=None)
            return None
        return (ctx.store.item(row.id) if rewritten else None) or row


def _send_existing(
    ctx: Ctx, c: sqlite3.Connection, row: ItemRow, *, save: bool, folder: str | None
) -> None:
    elem = parse_xml(row.xml)
    attachments = [parse_xml(x) for _, x in ctx.store.attachments(row.id)]

    def mark_sent(e: Element) -> set[str]:
        for name in ("IsDraft", "DateTimeSent"):
            for old in children(e, name):
                e.remove(old)
        sub(e, t("IsDraft"), "false")
        sub(e, t("DateTimeSent"), fmt_dt(utcnow()))
        return {"IsDraft"}

    _send_message(ctx, c, elem, attachments)
    if save:
        mailbox = ctx.store.mailbox_by_id(row.mailbox_id)
        assert mailbox is not None
        target = folder or ctx.mail.default_folder(mailbox, row.kind, "SendAndSaveCopy").id
        ctx.mail.change_item(c, row, mark_sent, to_folder=target)
    else:
        ctx.store.remove_item(c, row.id)


# "ResponseCode": ErrorIrresolvableConflict, the text Exchange sends with it.
STALE_CHANGE_KEY = (
    "The send or update operation could not be performed because the change key passed in "
    "the request does not match the current change key for the item."
)


@operation("SendItem")
def send_item(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("SendItem")
    save = req.get("SaveItemToFolder", "true").lower() == "true"
    for ident in id_elements(child(req, "ItemIds")):
        try:
            row, change_key = resolve_item(ctx, ident)
            if not change_key:
                raise EwsError("ErrorStaleObject", "The change key is required to send an item.")
            folder = folder_from_holder(ctx, child(req, "SavedItemFolderId"))
            with ctx.store.write() as c:
                fresh = ctx.store.item(row.id)
                if fresh is None:
                    raise EwsError("ErrorItemNotFound", NOT_FOUND)
                if change_key != fresh.change_key:
                    raise EwsError("ErrorIrresolvableConflict", STALE_CHANGE_KEY)
                _send_existing(ctx, c, fresh, save=save, folder=folder.id if folder else None)
        except EwsError as e:
            response_message(messages, "SendItem", e)
            continue
        response_message(messages, "SendItem")
    return root


@operation("DeleteItem")
def delete_item(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("DeleteItem")
    mode = req.get("DeleteType", "HardDelete")
    cancellations = req.get("SendMeetingCancellations", "SendToNone")
    for ident in id_elements(child(req, "ItemIds")):
        try:
            row, _ = resolve_item(ctx, ident)
            index = occurrence_of(ident, row)
            with ctx.store.write() as c:
                if index is not None:
                    cal.delete_occurrence(ctx, c, row, cal.occurrence_start(ctx, row, index))
                elif row.master_id:
                    master = ctx.store.item(row.master_id)
                    start = text_of(parse_xml(row.xml), "OriginalStart") or ""
                    if master is not None:
                        cal.delete_occurrence(ctx, c, master, start)
                else:
                    if row.kind == "CalendarItem" and cancellations != "SendToNone":
                        _cancel_meeting(ctx, c, row)
                    ctx.mail.delete_item(c, row, mode)
        except EwsError as e:
            response_message(messages, "DeleteItem", e)
            continue
        response_message(messages, "DeleteItem")
    return root


def _cancel_meeting(ctx: Ctx, c: sqlite3.Connection, row: ItemRow) -> None:
    """Send a MeetingCancellation to the meeting's emulator attendees: delivered
    asynchronously like any message; on delivery it marks the attendee's meeting cancelled
    (`MailStore.deliver`)."""
    elem = parse_xml(row.xml)
    organizer = ctx.store.mailbox_by_id(row.mailbox_id)
    assert organizer is not None
    for attendee in ctx.mail.recipients(
        elem, "RequiredAttendees", "OptionalAttendees", "Resources"
    ):
        if attendee.id == organizer.id:
            continue
        notice = etree.Element(t("MeetingCancellation"), nsmap={"t": itm.T_NS})
        sub(notice, t("Subject"), f"Canceled: {text_of(elem, 'Subject') or ''}")
        sub(notice, t("From")).append(
            itm.mailbox_elem(t("Mailbox"), organizer.display_name, organizer.smtp)
        )
        to = sub(notice, t("ToRecipients"))
        to.append(itm.mailbox_elem(t("Mailbox"), attendee.display_name, attendee.smtp))
        sub(notice, t("UID"), text_of(elem, "UID") or "")
        ctx.mail.deliver_message(c, attendee, notice, [])


def _move_or_copy(ctx: Ctx, req: Element, op: str) -> Element:
    root, messages = response_root(op)
    return_ids = req.get("ReturnNewItemIds", "true").lower() != "false"
    try:
        folder = folder_from_holder(ctx, child(req, "ToFolderId"))
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
        folder_error = None
    except EwsError as e:
        folder, folder_error = None, e
    for ident in id_elements(child(req, "ItemIds")):
        try:
            if folder_error is not None or folder is None:
                raise folder_error or EwsError("ErrorFolderNotFound")
            row, _ = resolve_item(ctx, ident)
            with ctx.store.write() as c:
                if op == "MoveItem":
                    if folder.mailbox_id != row.mailbox_id:
                        new_row = ctx.mail.copy_item(c, row, folder)
                        ctx.store.remove_item(c, row.id)
                    else:
                        new_row = ctx.mail.change_item(c, row, to_folder=folder.id)
                else:
                    new_row = ctx.mail.copy_item(c, row, folder)
        except EwsError as e:
            response_message(messages, op, e)
            continue
        msg = response_message(messages, op)
        items_el = sub(msg, m("Items"))
        if return_ids:
            items_el.append(_id_only(new_row))
    return root


@operation("MoveItem")
def move_item(ctx: Ctx, req: Element) -> Element:
    return _move_or_copy(ctx, req, "MoveItem")


@operation("CopyItem")
def copy_item(ctx: Ctx, req: Element) -> Element:
    return _move_or_copy(ctx, req, "CopyItem")
