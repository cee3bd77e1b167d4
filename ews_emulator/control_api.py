"""The control API: JSON over HTTP beside the EWS endpoint (see README.md for the routes).

It acts on the mailboxes the way a user in Outlook (or an administrator) would, so every
change it makes shows up in SyncFolderItems and in subscriptions like any other change.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from lxml import etree

from . import items as itm
from .graph import control as graph_control
from .messages import apply_mime
from .operations.tasks import update_task
from .soap import Element, EwsError, child, fmt_dt, local, parse_xml, sub, t, text_of, utcnow
from .store import Folder, ItemRow, Mailbox

if TYPE_CHECKING:
    from .server import EmulatorServer

KINDS = {
    "calendar": "CalendarItem",
    "calendaritem": "CalendarItem",
    "contacts": "Contact",
    "contact": "Contact",
    "tasks": "Task",
    "task": "Task",
    "messages": "Message",
    "message": "Message",
    "email": "Message",
}
SEED_FOLDER = {
    "CalendarItem": "calendar",
    "Contact": "contacts",
    "Task": "tasks",
    "Message": "inbox",
}
FAULT_KINDS = (
    "server_busy",
    "http_500",
    "http_503",
    "delay",
    "drop",
    "invalid_sync_state",
    "auth_failure",
    "http_403",
    "http_429",
    "garbage",
)
DELETE_MODES = {
    "hard": "HardDelete",
    "soft": "SoftDelete",
    "move_to_deleted_items": "MoveToDeletedItems",
}
MAILBOX_LISTS = ("ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo")
ATTENDEE_LISTS = ("RequiredAttendees", "OptionalAttendees", "Resources")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def handle(
    server: EmulatorServer, method: str, path: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any]:
    route = path.rstrip("/").removeprefix("/control").strip("/") or "health"
    args = {**query, **body}
    fn = ROUTES.get((method, route))
    if fn is None:
        raise ControlError(f"no route {method} /control/{route}", 404)
    return 200, fn(server, args)


def _mailbox(server: EmulatorServer, args: dict[str, Any]) -> Mailbox:
    email = args.get("mailbox") or args.get("email")
    if not email:
        raise ControlError("'mailbox' is required")
    mailbox = server.store.mailbox(str(email))
    if mailbox is None:
        raise ControlError(f"no mailbox {email}", 404)
    return mailbox


def _folder(server: EmulatorServer, mailbox: Mailbox, name: str) -> Folder:
    folder = server.store.distinguished_folder(mailbox.id, name) or server.store.folder(name)
    if folder is None or folder.mailbox_id != mailbox.id:
        raise ControlError(f"no folder {name} in {mailbox.smtp}", 404)
    return folder


def _item(server: EmulatorServer, args: dict[str, Any]) -> ItemRow:
    row = server.store.item(str(args.get("id", "")))
    if row is None:
        raise ControlError(f"no item {args.get('id')}", 404)
    return row


def _kind(value: Any) -> str:
    kind = KINDS.get(str(value or "").lower())
    if kind is None:
        raise ControlError(f"unknown kind {value!r}; use calendar, contacts, tasks or messages")
    return kind


def summary(server: EmulatorServer, row: ItemRow) -> dict[str, Any]:
    elem = parse_xml(row.xml)
    folder = server.store.folder(row.folder_id) if row.folder_id else None
    return {
        "id": row.id,
        "change_key": row.change_key,
        "kind": row.kind,
        "folder": (folder.distinguished or folder.display_name) if folder else None,
        "folder_id": row.folder_id,
        "subject": text_of(elem, "Subject"),
        "is_read": row.is_read,
        "created": row.created,
        "last_modified": row.modified,
    }


def _leaf_fields(elem: Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in elem:
        name = local(c.tag)
        if len(c):
            if name == "Categories":
                out[name] = [s.text or "" for s in c]
            else:
                mails = [m.findtext(t("EmailAddress")) for m in c.iter(t("Mailbox"))]
                entries = {e.get("Key"): (e.text or "").strip() for e in c if e.get("Key")}
                out[name] = entries or [x for x in mails if x] or etree.tostring(c).decode()
        elif c.text is not None:
            out[name] = c.text
        elif c.attrib:
            out[name] = dict(c.attrib)
    return out


def _mailbox_elem(tag: str, value: Any) -> Element:
    if isinstance(value, dict):
        return itm.mailbox_elem(tag, value.get("name"), str(value.get("email", "")))
    return itm.mailbox_elem(tag, None, str(value))


def field_elements(fields: dict[str, Any]) -> list[Element]:
    """EWS elements for a JSON field map (see README.md, "Field maps")."""
    out: list[Element] = []
    for name, value in fields.items():
        if name == "xml":
            wrapper = parse_xml(f'<w xmlns:t="{itm.T_NS}">{value}</w>')
            out.extend(wrapper)
            continue
        elem = etree.Element(t(name))
        if value is None:
            continue
        if name == "Body":
            if isinstance(value, dict):
                elem.text = str(value.get("value", ""))
                elem.set("BodyType", str(value.get("type", "Text")))
            else:
                elem.text = str(value)
                elem.set("BodyType", "Text")
        elif name == "Categories":
            for cat in value:
                sub(elem, t("String"), str(cat))
        elif name in ("From", "Sender", "Organizer"):
            elem.append(_mailbox_elem(t("Mailbox"), value))
        elif name in MAILBOX_LISTS:
            for v in value:
                elem.append(_mailbox_elem(t("Mailbox"), v))
        elif name in ATTENDEE_LISTS:
            for v in value:
                att = sub(elem, t("Attendee"))
                att.append(_mailbox_elem(t("Mailbox"), v))
                if isinstance(v, dict) and v.get("response"):
                    sub(att, t("ResponseType"), str(v["response"]))
        elif name == "PhysicalAddresses":
            for key, parts in value.items():
                entry = sub(elem, t("Entry"), Key=key)
                for part in itm.PHYSICAL_ADDRESS_ORDER:
                    if parts.get(part):
                        sub(entry, t(part), str(parts[part]))
        elif isinstance(value, dict):
            for key, text in value.items():
                sub(elem, t("Entry"), str(text), Key=key)
        elif isinstance(value, bool):
            elem.text = "true" if value else "false"
        else:
            elem.text = str(value)
        out.append(elem)
    return out


def _build(kind: str, fields: dict[str, Any]) -> Element:
    elem = etree.Element(t(kind), nsmap={"t": itm.T_NS})
    for f in field_elements(fields):
        elem.append(f)
    return elem


# -- routes --------------------------------------------------------------------------------


def health(server: EmulatorServer, args: dict[str, Any]) -> Any:
    return {"ok": True, "ews_url": server.endpoint, "pid": os.getpid()}


def list_mailboxes(server: EmulatorServer, args: dict[str, Any]) -> Any:
    return [
        {"email": mb.smtp, "display_name": mb.display_name, "impersonator": mb.is_impersonator}
        for mb in server.store.mailboxes()
    ]


def create_mailbox(server: EmulatorServer, args: dict[str, Any]) -> Any:
    email, password = args.get("email"), args.get("password")
    if not email or password is None:
        raise ControlError("'email' and 'password' are required")
    mb = server.store.ensure_mailbox(
        str(email),
        str(password),
        display_name=args.get("display_name"),
        impersonator=bool(args.get("impersonator", False)),
    )
    return {"email": mb.smtp, "display_name": mb.display_name, "impersonator": mb.is_impersonator}


def set_password(server: EmulatorServer, args: dict[str, Any]) -> Any:
    mailbox = _mailbox(server, args)
    server.store.set_password(mailbox.smtp, str(args.get("password", "")))
    return {"email": mailbox.smtp}


def list_folders(server: EmulatorServer, args: dict[str, Any]) -> Any:
    mailbox = _mailbox(server, args)
    rows = server.store.conn.execute(
        "SELECT id FROM folders WHERE mailbox_id = ? AND deleted = 0 ORDER BY rowid", (mailbox.id,)
    ).fetchall()
    out = []
    for (folder_id,) in rows:
        f = server.store.folder(folder_id)
        if f is None:
            continue
        total, unread, kids = server.store.folder_counts(f.id)
        out.append(
            {
                "id": f.id,
                "name": f.display_name,
                "distinguished": f.distinguished,
                "parent_id": f.parent_id,
                "folder_class": f.folder_class,
                "total": total,
                "unread": unread,
                "child_folders": kids,
            }
        )
    return out


def list_items(server: EmulatorServer, args: dict[str, Any]) -> Any:
    mailbox = _mailbox(server, args)
    folder = _folder(server, mailbox, str(args.get("folder", "inbox")))
    return [summary(server, r) for r in server.store.items_in_folder(folder.id)]


def get_item(server: EmulatorServer, args: dict[str, Any]) -> Any:
    row = _item(server, args)
    elem = parse_xml(row.xml)
    out = summary(server, row)
    out["fields"] = _leaf_fields(elem)
    out["attachments"] = [
        {"id": att_id, "name": parse_xml(xml).findtext(t("Name"))}
        for att_id, xml in server.store.attachments(row.id)
    ]
    out["xml"] = row.xml.decode()
    return out


def create_item(server: EmulatorServer, args: dict[str, Any]) -> Any:
    mailbox = _mailbox(server, args)
    kind = _kind(args.get("kind"))
    folder = _folder(server, mailbox, str(args.get("folder") or SEED_FOLDER[kind]))
    elem = _build(kind, dict(args.get("fields") or {}))
    with server.store.write() as c:
        row = server.mail.create_item(c, mailbox, folder.id, elem)
    return summary(server, row)


def update_item(server: EmulatorServer, args: dict[str, Any]) -> Any:
    row = _item(server, args)
    new_fields = field_elements(dict(args.get("fields") or {}))
    removed = [str(n) for n in args.get("delete") or []]

    def mutate(elem: Element) -> set[str]:
        touched = set()
        for name in removed:
            for old in elem.findall(t(name)):
                elem.remove(old)
            touched.add(name)
        for f in new_fields:
            name = local(f.tag)
            for old in elem.findall(f.tag):
                elem.remove(old)
            elem.append(f)
            touched.add(name)
        itm.sort_children(elem, row.kind)
        return touched

    with server.store.write() as c:
        fresh = server.store.item(row.id) or row
        if fresh.kind == "Task":  # as Outlook completing an occurrence of a recurring task
            updated = update_task(server.mail, c, fresh, mutate)
        else:
            updated = server.mail.change_item(c, fresh, mutate)
    return summary(server, updated)


def delete_item(server: EmulatorServer, args: dict[str, Any]) -> Any:
    row = _item(server, args)
    mode = DELETE_MODES.get(str(args.get("mode", "move_to_deleted_items")))
    if mode is None:
        raise ControlError(f"mode must be one of {sorted(DELETE_MODES)}")
    with server.store.write() as c:
        server.mail.delete_item(c, row, mode)
    return {"id": row.id, "mode": mode}


def move_item(server: EmulatorServer, args: dict[str, Any]) -> Any:
    row = _item(server, args)
    mailbox = server.store.mailbox_by_id(row.mailbox_id)
    assert mailbox is not None
    folder = _folder(server, mailbox, str(args.get("folder", "")))
    with server.store.write() as c:
        moved = server.mail.change_item(c, row, to_folder=folder.id)
    return summary(server, moved)


def deliver(server: EmulatorServer, args: dict[str, Any]) -> Any:
    mailbox = _mailbox(server, args)
    if args.get("mime_base64"):
        raw = base64.b64decode(str(args["mime_base64"]))
    elif args.get("mime"):
        raw = str(args["mime"]).encode("utf-8")
    else:
        raise ControlError("'mime' or 'mime_base64' is required")
    elem, attachments = _received_message(raw)
    with server.store.write() as c:
        row = server.mail.deliver(
            c, mailbox, elem, attachments=attachments, folder=str(args.get("folder", "inbox"))
        )
    return summary(server, row)


def deliveries(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """Sent messages (meeting messages included) this process has not delivered yet."""
    return {"pending": server.mail.pending()}


def deliver_many(server: EmulatorServer, args: dict[str, Any]) -> Any:
    """`deliver` for a list of raw messages (`mimes_base64`), in one store transaction."""
    mailbox = _mailbox(server, args)
    encoded = args.get("mimes_base64")
    if not isinstance(encoded, list) or not encoded:
        raise ControlError("'mimes_base64' must be a non-empty list")
    if len(encoded) > 10_000:
        raise ControlError("at most 10000 messages per call")
    messages = [_received_message(base64.b64decode(str(item))) for item in encoded]
    folder = str(args.get("folder", "inbox"))
    ids = []
    with server.store.write() as c:
        for elem, attachments in messages:
            row = server.mail.deliver(c, mailbox, elem, attachments=attachments, folder=folder)
            ids.append(row.id)
    return {"count": len(ids), "ids": ids}


def _received_message(raw: bytes) -> tuple[Element, list[Element]]:
    """A Message element (and its attachments) built from raw MIME, as SMTP would deliver it."""
    elem = etree.Element(t("Message"), nsmap={"t": itm.T_NS})
    sub(elem, t("MimeContent"), base64.b64encode(raw).decode(), CharacterSet="UTF-8")
    try:
        attachments = apply_mime(elem)
    except EwsError as e:
        raise ControlError(e.text) from None
    if child(elem, "DateTimeSent") is None:
        sub(elem, t("DateTimeSent"), fmt_dt(utcnow()))
    return elem, attachments


def _seed_fields(kind: str, n: int, base: dt.datetime, owner: Mailbox) -> dict[str, Any]:
    if kind == "CalendarItem":
        start = base + dt.timedelta(hours=n)
        return {
            "Subject": f"Seeded appointment {n}",
            "Body": f"Agenda for appointment {n}",
            "Start": fmt_dt(start),
            "End": fmt_dt(start + dt.timedelta(minutes=30)),
            "Location": f"Room {n % 20}",
        }
    if kind == "Contact":
        return {
            "GivenName": f"First{n}",
            "Surname": f"Last{n}",
            "CompanyName": f"Company {n % 50}",
            "EmailAddresses": {"EmailAddress1": f"contact{n}@example.org"},
            "PhoneNumbers": {"BusinessPhone": f"+1 555 {n:07d}"},
        }
    if kind == "Task":
        return {
            "Subject": f"Seeded task {n}",
            "DueDate": fmt_dt(base + dt.timedelta(days=n % 30)),
            "Status": "NotStarted",
        }
    return {
        "Subject": f"Seeded message {n}",
        "Body": f"Body of seeded message {n}",
        "From": f"sender{n % 100}@example.org",
        "ToRecipients": [owner.smtp],
        "IsRead": False,
        "IsDraft": False,
    }


def seed(server: EmulatorServer, args: dict[str, Any]) -> Any:
    mailbox = _mailbox(server, args)
    kind = _kind(args.get("kind"))
    count = int(args.get("count", 1))
    if not 0 < count <= 200_000:
        raise ControlError("'count' must be between 1 and 200000")
    folder = _folder(server, mailbox, str(args.get("folder") or SEED_FOLDER[kind]))
    base = utcnow().replace(minute=0, second=0) + dt.timedelta(days=1)
    template = dict(args.get("fields") or {})
    ids = []
    with server.store.write() as c:
        for n in range(count):
            fields = _seed_fields(kind, n, base, mailbox) | template
            row = server.mail.create_item(c, mailbox, folder.id, _build(kind, fields))
            ids.append(row.id)
    return {"count": len(ids), "ids": ids, "folder_id": folder.id}


def add_fault(server: EmulatorServer, args: dict[str, Any]) -> Any:
    kind = str(args.get("kind", ""))
    if kind not in FAULT_KINDS:
        raise ControlError(f"kind must be one of {FAULT_KINDS}")
    fault_id = server.store.add_fault(
        kind,
        operation=args.get("operation"),
        mailbox=args.get("mailbox"),
        count=int(args.get("count", 1)),
        back_off_ms=int(args.get("back_off_ms", 0) or 0),
        delay_ms=int(args.get("delay_ms", 0) or 0),
    )
    return {"id": fault_id}


def list_faults(server: EmulatorServer, args: dict[str, Any]) -> Any:
    return server.store.list_faults()


def clear_faults(server: EmulatorServer, args: dict[str, Any]) -> Any:
    server.store.clear_faults()
    return {"cleared": True}


ROUTES = {
    ("GET", "health"): health,
    ("GET", "mailboxes"): list_mailboxes,
    ("POST", "mailboxes"): create_mailbox,
    ("POST", "password"): set_password,
    ("GET", "folders"): list_folders,
    ("GET", "items"): list_items,
    ("GET", "item"): get_item,
    ("POST", "items"): create_item,
    ("POST", "update"): update_item,
    ("POST", "delete"): delete_item,
    ("POST", "move"): move_item,
    ("POST", "deliver"): deliver,
    ("POST", "deliver_many"): deliver_many,
    ("GET", "deliveries"): deliveries,
    ("POST", "seed"): seed,
    ("POST", "faults"): add_fault,
    ("GET", "faults"): list_faults,
    ("DELETE", "faults"): clear_faults,
    ("POST", "faults/clear"): clear_faults,
}

# Entra ID applications and Graph (ews_emulator/graph/control.py).
ROUTES.update(graph_control.ROUTES)
