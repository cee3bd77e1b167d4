"""Graph mail: mailFolders, messages, delta, send, move, attachments, translateExchangeIds.

Reads come straight from the store; moves, copies, deletes and sends go through the EWS
operations themselves (MoveItem, CopyItem, DeleteItem, SendItem, CreateItem), so that both
protocols behave alike by construction (new ids on move, tombstones, delivery to the
recipients' Inboxes). References: https://learn.microsoft.com/graph/api/resources/message,
.../resources/mailfolder, .../api/message-delta, .../api/user-sendmail.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from lxml import etree

from .. import items as itm
from ..control_api import field_elements
from ..operations import OPERATIONS, Ctx
from ..soap import M_NS, T_NS, Element, EwsError, SoapFault, local, t
from ..store import Folder, ItemRow
from . import ids
from . import mapping as mp
from .api import MAIL_SEND, Request, Response, route
from .errors import GraphError, bad_request, from_ews, not_found

MESSAGE_KINDS = ("Message", "MeetingRequest", "MeetingResponse", "MeetingCancellation", "PostItem")
DEFAULT_PAGE = 10
MAX_FILE_ATTACHMENT = 3 * 1024 * 1024
SYNC_GONE = "The sync state is not valid anymore; start a new synchronization without a token."


# -- helpers -------------------------------------------------------------------------------


def ews(req: Request, op: str, inner: str, **attrs: str) -> Element:
    """Run an EWS operation as the mailbox owner; its first error becomes a GraphError."""
    attr_text = "".join(f' {k}="{v}"' for k, v in attrs.items())
    root = mp.parse(f'<m:{op} xmlns:m="{M_NS}" xmlns:t="{T_NS}"{attr_text}>{inner}</m:{op}>')
    ctx = Ctx(
        store=req.store,
        mail=req.server.mail,
        auth=req.user,
        target=req.user,
        version="Exchange2016",
    )
    try:
        result = OPERATIONS[op](ctx, root)
    except (EwsError, SoapFault) as e:
        raise from_ews(
            getattr(e, "code", "ErrorInvalidRequest"), getattr(e, "text", str(e))
        ) from None
    assert isinstance(result, etree._Element)
    for message in result.iter():
        if message.get("ResponseClass") == "Error":
            code = message.findtext(f"{{{M_NS}}}ResponseCode") or "ErrorInvalidRequest"
            raise from_ews(code, message.findtext(f"{{{M_NS}}}MessageText") or code)
    return result


def _xml_text(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def item_row(req: Request, given: str, kinds: tuple[str, ...]) -> ItemRow:
    """The caller's item of one of `kinds` a Graph id designates (404 otherwise)."""
    row = req.store.item(ids.resolve_item_id(req.store, given))
    if row is None or row.mailbox_id != req.user.id or row.kind not in kinds:
        raise not_found()
    return row


def message_row(req: Request, given: str) -> ItemRow:
    return item_row(req, given, MESSAGE_KINDS)


def folder_json(req: Request, folder: Folder) -> dict[str, Any]:
    total, unread, kids = req.store.folder_counts(folder.id)
    return {
        "id": ids.rest_id(folder.id),
        "displayName": folder.display_name,
        "parentFolderId": ids.rest_id(folder.parent_id or ""),
        "childFolderCount": kids,
        "unreadItemCount": unread,
        "totalItemCount": total,
        "isHidden": False,
    }


# Rendered messages by (item id, change sequence): a change moves the sequence, so an entry
# is never stale, whichever process made the change.
_RENDERED: dict[tuple[str, int], dict[str, Any]] = {}
RENDER_CACHE_SIZE = 20_000


def _rendered(row: ItemRow, elem: Element | None = None) -> dict[str, Any]:
    """The cached rendering of a row (not to be changed), ids in the EWS-derived form."""
    key = (row.id, row.seq)
    base = _RENDERED.get(key)
    if base is None:
        elem = elem if elem is not None else mp.parse(row.xml)
        base = mp.message_json(
            elem, ids.rest_id(row.id), row.change_key, ids.rest_id(row.folder_id), ids.rest_id
        )
        if len(_RENDERED) >= RENDER_CACHE_SIZE:
            _RENDERED.clear()
        _RENDERED[key] = base
    return base


def message_resource(req: Request, row: ItemRow, elem: Element | None = None) -> dict[str, Any]:
    """The full Graph message of a stored row, ids in the form the caller asked for."""
    out = dict(_rendered(row, elem))
    if req.immutable:
        out["id"] = ids.immutable_id(req.store, row.id)
    return out


def render_message(
    req: Request, row: ItemRow, elem: Element | None = None, *, expand: bool = True
) -> dict[str, Any]:
    out = mp.select(message_resource(req, row, elem), req.select())
    if expand and req.query.get("$expand"):
        _expand(req, row, elem if elem is not None else mp.parse(row.xml), out)
    return out


def split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    return list(_split_top(text))


# A listing applies the same $expand to every item of its page: its parts are parsed once.
@functools.lru_cache(maxsize=64)
def _split_top(text: str) -> tuple[str, ...]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return tuple(parts)


EXPAND_EXT = re.compile(
    r"^(single|multi)ValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.+)\))?$", re.IGNORECASE
)
ID_EQ = re.compile(r"^\s*id\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


def filtered_ids(text: str) -> list[str]:
    """The ids of an $expand's `$filter=id eq '...' or id eq '...'`."""
    return list(_filtered_ids(text))


@functools.lru_cache(maxsize=64)
def _filtered_ids(text: str) -> tuple[str, ...]:
    wanted = []
    for clause in re.split(r"\s+or\s+", text, flags=re.IGNORECASE):
        id_match = ID_EQ.match(clause)
        if id_match is None:
            raise bad_request("Only 'id eq' filters are supported in this $expand.")
        wanted.append(id_match.group(1).replace("''", "'"))
    return tuple(wanted)


def _expand(req: Request, row: ItemRow, elem: Element, out: dict[str, Any]) -> None:
    value = req.query.get("$expand")
    if not value:
        return
    for part in split_top(value):
        if part.lower() == "attachments":
            out["attachments"] = [
                mp.attachment_json(xml, ids.rest_id(att_id))
                for att_id, xml in req.store.attachments(row.id)
            ]
            continue
        match = EXPAND_EXT.match(part)
        if match is None:
            raise bad_request(
                f"Could not find a property named '{part}' on type 'microsoft.graph.message'."
            )
        props = mp.extended_properties(elem)
        if match.group(2):
            wanted = [mp.canonical_prop_id(i) for i in filtered_ids(match.group(2))]
            props = [p for p in props if mp.canonical_prop_id(p["id"]) in wanted]
        if match.group(1).lower() == "single":
            if props:
                out["singleValueExtendedProperties"] = props
        elif props:
            out["multiValueExtendedProperties"] = []


# -- $filter -------------------------------------------------------------------------------

COMPARISON = re.compile(
    r"^\s*([A-Za-z][\w/]*)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|true|false|null|[-+\d.:TZ]+)\s*$",
    re.IGNORECASE,
)
EXT_ANY = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'\s+"
    r"and\s+\1/value\s+(eq|ne)\s+'((?:[^']|'')*)'\s*\)\s*$",
    re.IGNORECASE,
)


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return text


def _split_and(text: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    lowered = text.lower()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and lowered.startswith(" and ", i):
            parts.append(text[start:i])
            i += 5
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def compile_filter(text: str | None) -> Any:
    """A predicate over (resource JSON, stored element) for a $filter of `and`-ed clauses:
    comparisons on (nested) properties and singleValueExtendedProperties/any(...)."""
    if not text:
        return None
    tests: list[Callable[..., bool]] = []
    for clause in _split_and(text):
        ext = EXT_ANY.match(clause)
        if ext is not None:
            prop_id = mp.canonical_prop_id(ext.group(2).replace("''", "'"))
            value, negate = ext.group(4).replace("''", "'"), ext.group(3).lower() == "ne"

            def ext_test(
                res: dict[str, Any],
                elem: Element,
                p: str = prop_id,
                v: str = value,
                n: bool = negate,
            ) -> bool:
                found = any(
                    mp.canonical_prop_id(x["id"]) == p and x["value"] == v
                    for x in mp.extended_properties(elem)
                )
                return found != n

            tests.append(ext_test)
            continue
        match = COMPARISON.match(clause)
        if match is None:
            raise bad_request(f"Invalid filter clause: {clause.strip()}", "BadRequest")
        path, op, literal = match.group(1), match.group(2).lower(), _literal(match.group(3))

        def cmp_test(
            res: dict[str, Any], elem: Element, p: str = path, o: str = op, v: Any = literal
        ) -> bool:
            current: Any = res
            for step in p.split("/"):
                current = current.get(step) if isinstance(current, dict) else None
            if o == "eq":
                return bool(current == v)
            if o == "ne":
                return bool(current != v)
            if current is None or v is None:
                return False
            a, b = str(current), str(v)
            return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[o]

        tests.append(cmp_test)
    return lambda res, elem: all(test(res, elem) for test in tests)


# -- generic listing (contacts, events, tasks) -----------------------------------------------


def list_page(
    req: Request,
    rows: list[ItemRow],
    render: Callable[[ItemRow], dict[str, Any]],
    path: str,
    *,
    shape: Callable[[Request, ItemRow, dict[str, Any]], dict[str, Any]] | None = None,
) -> Response:
    """A page of items: $filter (extended properties too), $top/$skip, $select, $expand
    (`shape` applies $select and $expand to one item, `one` by default)."""
    shape = shape or one
    predicate = compile_filter(req.query.get("$filter"))
    top = min(int(req.query.get("$top") or DEFAULT_PAGE), 1000)
    skip = int(req.query.get("$skip") or 0)
    chosen: list[tuple[dict[str, Any] | None, ItemRow]]
    if predicate is None:
        # Only the page is rendered: paging through a folder is linear, not quadratic.
        chosen = [(None, row) for row in rows]
    else:
        chosen = []
        for row in rows:
            full = render(row)
            if predicate(full, mp.parse(row.xml)):
                chosen.append((full, row))
    value = [
        shape(req, row, full if full is not None else render(row))
        for full, row in chosen[skip : skip + top]
    ]
    payload: dict[str, Any] = {"value": value}
    if skip + top < len(chosen):
        params = {k: v for k, v in req.query.items() if k not in ("$skip", "$top")}
        params.update({"$top": str(top), "$skip": str(skip + top)})
        payload["@odata.nextLink"] = f"{req.user_url()}/{path}?" + "&".join(
            f"{k}={_quote(v)}" for k, v in params.items()
        )
    return Response(200, payload)


def one(req: Request, row: ItemRow, full: dict[str, Any]) -> dict[str, Any]:
    """An item's resource with $select and $expand applied."""
    out = mp.select(full, req.select())
    if req.query.get("$expand"):
        _expand(req, row, mp.parse(row.xml), out)
    return out


# -- mail folders --------------------------------------------------------------------------


def _mail_children(req: Request, parent: Folder) -> list[Folder]:
    return [
        f
        for f in req.store.child_folders(parent.id)
        if (f.folder_class or "IPF.Note") == "IPF.Note"
        and f.distinguished not in ("recoverableitemsdeletions",)
    ]


def _folder_list(req: Request, parent: Folder, path: str) -> Response:
    folders = [folder_json(req, f) for f in _mail_children(req, parent)]
    top = int(req.query.get("$top") or 10)
    skip = int(req.query.get("$skip") or 0)
    page = folders[skip : skip + top]
    payload: dict[str, Any] = {
        "@odata.context": f"{req.base}/v1.0/$metadata#users('{req.user.smtp}')/{path}",
        "value": [mp.select(f, req.select()) for f in page],
    }
    if skip + top < len(folders):
        payload["@odata.nextLink"] = f"{req.user_url()}/{path}?$top={top}&$skip={skip + top}"
    return Response(200, payload)


@route("GET", "mailFolders")
def list_mail_folders(req: Request, args: list[str]) -> Response:
    return _folder_list(req, req.folder("msgfolderroot"), "mailFolders")


@route("GET", "mailFolders", "*")
def get_mail_folder(req: Request, args: list[str]) -> Response:
    return Response(200, mp.select(folder_json(req, req.folder(args[0])), req.select()))


@route("GET", "mailFolders", "*", "childFolders")
def list_child_folders(req: Request, args: list[str]) -> Response:
    return _folder_list(req, req.folder(args[0]), f"mailFolders/{args[0]}/childFolders")


def create_folder(
    req: Request,
    parent: Folder,
    folder_class: str = "IPF.Note",
    kind: str = "Folder",
    render: Callable[[Request, Folder], dict[str, Any]] = folder_json,
) -> Response:
    """A folder below `parent` named by the body's displayName (a sibling's name: 409)."""
    name = str(req.json().get("displayName") or "").strip()
    if not name:
        raise bad_request("The displayName of a folder is required.", "ErrorInvalidRequest")
    if any(f.display_name.lower() == name.lower() for f in req.store.child_folders(parent.id)):
        raise GraphError(
            409, "ErrorFolderExists", "A folder with the specified name already exists."
        )
    with req.store.write() as c:
        folder = req.store.create_folder(c, parent, name, folder_class, kind)
    return Response(201, render(req, folder))


@route("POST", "mailFolders")
def create_mail_folder(req: Request, args: list[str]) -> Response:
    return create_folder(req, req.folder("msgfolderroot"))


@route("POST", "mailFolders", "*", "childFolders")
def create_child_folder(req: Request, args: list[str]) -> Response:
    return create_folder(req, req.folder(args[0]))


# -- listing and reading messages ----------------------------------------------------------


def _message_rows(req: Request, folder: Folder | None) -> list[ItemRow]:
    if folder is not None:
        rows = req.store.items_in_folder(folder.id)
    else:
        hidden = req.store.distinguished_folder(req.user.id, "recoverableitemsdeletions")
        rows = [
            r
            for (folder_id,) in req.store.conn.execute(
                "SELECT id FROM folders WHERE mailbox_id = ? AND deleted = 0", (req.user.id,)
            ).fetchall()
            if not hidden or folder_id != hidden.id
            for r in req.store.items_in_folder(folder_id)
        ]
    return [r for r in rows if r.kind in MESSAGE_KINDS]


def _list_messages(req: Request, folder: Folder | None, path: str) -> Response:
    predicate = compile_filter(req.query.get("$filter"))
    top = min(int(req.query.get("$top") or DEFAULT_PAGE), 1000)
    skip = int(req.query.get("$skip") or 0)
    order = (req.query.get("$orderby") or "receivedDateTime desc").strip().split()
    # Sorted and filtered on the cached renderings; only the page gets its ids in the form
    # asked for, its $select and its $expand (each page costs the folder's size once, not
    # a parse of every message).
    rendered: list[tuple[dict[str, Any], ItemRow, Element | None]] = []
    for row in _message_rows(req, folder):
        if predicate is None:
            rendered.append((_rendered(row), row, None))
            continue
        elem = mp.parse(row.xml)
        full = message_resource(req, row, elem)
        if predicate(full, elem):
            rendered.append((full, row, elem))
    key = order[0]
    rendered.sort(
        key=lambda x: str(x[0].get(key) or ""),
        reverse=len(order) > 1 and order[1].lower() == "desc",
    )
    page = rendered[skip : skip + top]
    value = []
    for _, row, elem in page:
        out = mp.select(message_resource(req, row, elem), req.select())
        if req.query.get("$expand"):
            _expand(req, row, elem if elem is not None else mp.parse(row.xml), out)
        value.append(out)
    payload: dict[str, Any] = {
        "@odata.context": f"{req.base}/v1.0/$metadata#users('{req.user.smtp}')/{path}",
        "value": value,
    }
    if skip + top < len(rendered):
        params = {k: v for k, v in req.query.items() if k not in ("$skip", "$top")}
        params.update({"$top": str(top), "$skip": str(skip + top)})
        payload["@odata.nextLink"] = f"{req.user_url()}/{path}?" + "&".join(
            f"{k}={_quote(v)}" for k, v in params.items()
        )
    return Response(200, payload)


def _quote(value: str) -> str:
    import urllib.parse

    return urllib.parse.quote(value, safe="")


@route("GET", "messages")
def list_all_messages(req: Request, args: list[str]) -> Response:
    return _list_messages(req, None, "messages")


@route("GET", "mailFolders", "*", "messages")
def list_folder_messages(req: Request, args: list[str]) -> Response:
    return _list_messages(req, req.folder(args[0]), f"mailFolders/{args[0]}/messages")


@route("GET", "messages", "*")
def get_message(req: Request, args: list[str]) -> Response:
    return Response(200, render_message(req, message_row(req, args[0])))


@route("GET", "messages", "*", "$value")
def get_mime(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    mime = mp.parse(row.xml).findtext(t("MimeContent")) or ""
    return Response(200, raw=base64.b64decode(mime), content_type="text/plain")


# -- writing messages ----------------------------------------------------------------------


def _message_element(fields: dict[str, Any], ext: list[str]) -> Element:
    elem = etree.Element(t("Message"), nsmap={"t": T_NS})
    for f in field_elements(fields):
        elem.append(f)
    for xml in ext:
        elem.append(etree.fromstring(f'<w xmlns:t="{T_NS}">{xml}</w>')[0])
    return elem


def _attachment_element(payload: dict[str, Any]) -> Element:
    kind = str(payload.get("@odata.type", "#microsoft.graph.fileAttachment"))
    if kind.lower() != "#microsoft.graph.fileattachment":
        raise bad_request(
            f"Attachments of type {kind} are not supported here.", "ErrorInvalidRequest"
        )
    name = str(payload.get("name") or "")
    if not name:
        raise bad_request("The attachment name is required.", "ErrorInvalidRequest")
    content = mp.content_bytes(payload.get("contentBytes"))
    att = etree.Element(t("FileAttachment"), nsmap={"t": T_NS})
    etree.SubElement(att, t("Name")).text = name
    etree.SubElement(att, t("ContentType")).text = str(
        payload.get("contentType") or "application/octet-stream"
    )
    if payload.get("contentId"):
        etree.SubElement(att, t("ContentId")).text = str(payload["contentId"])
    etree.SubElement(att, t("IsInline")).text = "true" if payload.get("isInline") else "false"
    etree.SubElement(att, t("Content")).text = base64.b64encode(content).decode()
    return att


def new_item(
    req: Request,
    folder: Folder,
    kind: str,
    fields: dict[str, Any],
    ext: list[str],
    attachments: list[Element] | None = None,
) -> ItemRow:
    """Create an item from an EWS field map, as a user in Outlook would."""
    elem = _message_element(fields, ext)
    elem.tag = t(kind)
    with req.store.write() as c:
        return req.server.mail.create_item(c, req.user, folder.id, elem, attachments=attachments)


def _create_message(req: Request, folder: Folder, payload: dict[str, Any]) -> ItemRow:
    fields, ext = mp.message_fields(payload, creating=True)
    attachments = [_attachment_element(a) for a in payload.get("attachments") or []]
    return new_item(req, folder, "Message", fields, ext, attachments)


def _create_from_mime(req: Request, folder: Folder) -> ItemRow:
    """A draft from base64 MIME in a text/plain body
    (https://learn.microsoft.com/graph/outlook-send-mime-message): through EWS CreateItem
    with MimeContent, so headers (Message-ID, In-Reply-To, References) are kept."""
    text = req.body.strip()
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(
            "Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String"
        ) from None
    result = ews(
        req,
        "CreateItem",
        f'<m:SavedItemFolderId><t:FolderId Id="{folder.id}"/></m:SavedItemFolderId>'
        f"<m:Items><t:Message><t:MimeContent>{text.decode('ascii')}</t:MimeContent>"
        "</t:Message></m:Items>",
        MessageDisposition="SaveOnly",
    )
    new_id = next((e.get("Id") for e in result.iter(t("ItemId"))), None)
    row = req.store.item(new_id) if new_id else None
    if row is None:
        raise not_found()
    return row


def _create(req: Request, folder: Folder) -> Response:
    if req.headers.get("content-type", "").lower().startswith("text/plain"):
        row = _create_from_mime(req, folder)
    else:
        row = _create_message(req, folder, req.json())
    return Response(201, render_message(req, row, expand=False))


@route("POST", "messages")
def create_draft(req: Request, args: list[str]) -> Response:
    return _create(req, req.folder("drafts"))


@route("POST", "mailFolders", "*", "messages")
def create_in_folder(req: Request, args: list[str]) -> Response:
    return _create(req, req.folder(args[0]))


def write_fields(
    req: Request,
    row: ItemRow,
    fields: dict[str, Any],
    ext: list[str],
    *,
    remove: list[str] | None = None,
) -> ItemRow:
    """Replace the given elements (and extended properties, by id) of a stored item;
    `remove` names elements to drop (a property set to null)."""
    new_fields = field_elements(fields)
    new_ext = [etree.fromstring(f'<w xmlns:t="{T_NS}">{x}</w>')[0] for x in ext]

    def mutate(elem: Element) -> set[str]:
        touched = set()
        for name in remove or []:
            for old in elem.findall(t(name)):
                elem.remove(old)
                touched.add(name)
        for f in new_fields:
            for old in elem.findall(f.tag):
                elem.remove(old)
            elem.append(f)
            touched.add(local(f.tag))
        for prop in new_ext:
            key = itm.ext_key(prop[0])
            for old in elem.findall(t("ExtendedProperty")):
                uri = old.find(t("ExtendedFieldURI"))
                if uri is not None and itm.ext_key(uri) == key:
                    elem.remove(old)
            elem.append(prop)
            touched.add("ExtendedProperty")
        itm.sort_children(elem, row.kind)
        return touched

    with req.store.write() as c:
        fresh = req.store.item(row.id) or row
        return req.server.mail.change_item(c, fresh, mutate)


@route("PATCH", "messages", "*")
def update_message(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    fields, ext = mp.message_fields(req.json(), creating=False)
    return Response(200, render_message(req, write_fields(req, row, fields, ext), expand=False))


def delete_row(req: Request, row: ItemRow, mode: str, **attrs: str) -> Response:
    """Delete through EWS DeleteItem (MoveToDeletedItems, SoftDelete or HardDelete)."""
    inner = f'<m:ItemIds><t:ItemId Id="{row.id}"/></m:ItemIds>'
    ews(req, "DeleteItem", inner, DeleteType=mode, **attrs)
    return Response(204)


def _delete(req: Request, given: str, mode: str) -> Response:
    return delete_row(req, message_row(req, given), mode)


@route("DELETE", "messages", "*")
def delete_message(req: Request, args: list[str]) -> Response:
    return _delete(req, args[0], "MoveToDeletedItems")


@route("POST", "messages", "*", "permanentDelete")
def permanent_delete(req: Request, args: list[str]) -> Response:
    return _delete(req, args[0], "HardDelete")


def _move_or_copy(req: Request, args: list[str], op: str) -> Response:
    row = message_row(req, args[0])
    destination = str(req.json().get("destinationId") or "")
    if not destination:
        raise bad_request("destinationId is required.", "ErrorInvalidRequest")
    folder = req.folder(destination)
    result = ews(
        req,
        op,
        f'<m:ToFolderId><t:FolderId Id="{folder.id}"/></m:ToFolderId>'
        f'<m:ItemIds><t:ItemId Id="{row.id}" ChangeKey="{row.change_key}"/></m:ItemIds>',
    )
    new_id = next((e.get("Id") for e in result.iter(t("ItemId"))), None)
    moved = req.store.item(new_id or row.id) if new_id or op == "MoveItem" else None
    if moved is None:
        raise not_found()
    return Response(201, render_message(req, moved, expand=False))


@route("POST", "messages", "*", "move")
def move_message(req: Request, args: list[str]) -> Response:
    return _move_or_copy(req, args, "MoveItem")


@route("POST", "messages", "*", "copy")
def copy_message(req: Request, args: list[str]) -> Response:
    return _move_or_copy(req, args, "CopyItem")


@route("POST", "messages", "*", "send", roles=MAIL_SEND)
def send_draft(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    if mp.parse(row.xml).findtext(t("IsDraft")) != "true":
        raise bad_request("The item is not a draft and cannot be sent.", "ErrorInvalidOperation")
    if not any(
        mp.fields_of(mp.parse(row.xml)).get(k) is not None
        for k in ("ToRecipients", "CcRecipients", "BccRecipients")
    ):
        raise bad_request("At least one recipient is required.", "ErrorInvalidRecipients")
    ews(
        req,
        "SendItem",
        f'<m:ItemIds><t:ItemId Id="{row.id}" ChangeKey="{row.change_key}"/></m:ItemIds>'
        '<m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems"/></m:SavedItemFolderId>',
        SaveItemToFolder="true",
    )
    return Response(202)


@route("POST", "sendMail", roles=MAIL_SEND)
def send_mail(req: Request, args: list[str]) -> Response:
    body = req.json()
    message = body.get("message")
    if not isinstance(message, dict):
        raise bad_request("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
    fields, ext = mp.message_fields(message, creating=True)
    if not any(fields.get(k) for k in ("ToRecipients", "CcRecipients", "BccRecipients")):
        raise bad_request("At least one recipient is required.", "ErrorInvalidRecipients")
    save = body.get("saveToSentItems", True)
    if isinstance(save, str):
        save = save.lower() == "true"
    elem = _message_element(fields, ext)
    for a in message.get("attachments") or []:
        holder = elem.find(t("Attachments"))
        if holder is None:
            holder = etree.SubElement(elem, t("Attachments"))
        holder.append(_attachment_element(a))
    disposition = "SendAndSaveCopy" if save else "SendOnly"
    saved = (
        '<m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems"/></m:SavedItemFolderId>'
        if save
        else ""
    )
    ews(
        req,
        "CreateItem",
        f"{saved}<m:Items>{etree.tostring(elem).decode()}</m:Items>",
        MessageDisposition=disposition,
    )
    return Response(202)


# -- attachments and upload sessions -------------------------------------------------------


def _attachment_of(req: Request, row: ItemRow, given: str) -> tuple[str, bytes]:
    att_id = ids.ews_id(given)
    found = req.store.attachment(att_id)
    if found is None or found[0] != row.id:
        raise GraphError(404, "ErrorItemNotFound", "The attachment could not be found.")
    return att_id, found[1]


@route("GET", "messages", "*", "attachments")
def list_attachments(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    value = [
        mp.select(mp.attachment_json(xml, ids.rest_id(a)), req.select())
        for a, xml in req.store.attachments(row.id)
    ]
    return Response(200, {"value": value})


@route("GET", "messages", "*", "attachments", "*")
def get_attachment(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    att_id, xml = _attachment_of(req, row, args[1])
    return Response(200, mp.select(mp.attachment_json(xml, ids.rest_id(att_id)), req.select()))


@route("GET", "messages", "*", "attachments", "*", "$value")
def get_attachment_value(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    _, xml = _attachment_of(req, row, args[1])
    att = mp.parse(xml)
    return Response(
        200,
        raw=base64.b64decode(att.findtext(t("Content")) or ""),
        content_type=att.findtext(t("ContentType")) or "application/octet-stream",
    )


def _add_attachment(req: Request, row: ItemRow, att: Element) -> str:
    with req.store.write() as c:
        fresh = req.store.item(row.id) or row
        att_id, _ = req.server.mail.add_attachment(c, fresh, att)
    return str(att_id)


@route("POST", "messages", "*", "attachments")
def add_attachment(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    payload = req.json()
    att = _attachment_element(payload)
    size = len(base64.b64decode(att.findtext(t("Content")) or ""))
    if size > MAX_FILE_ATTACHMENT:
        raise GraphError(
            413,
            "ErrorRequestEntityTooLarge",
            "The attachment is larger than 3 MB; use an upload session (createUploadSession).",
        )
    att_id = _add_attachment(req, row, att)
    found = req.store.attachment(att_id)
    assert found is not None
    return Response(201, mp.attachment_json(found[1], ids.rest_id(att_id)))


@route("DELETE", "messages", "*", "attachments", "*")
def delete_attachment(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    att_id, _ = _attachment_of(req, row, args[1])
    with req.store.write() as c:
        req.server.mail.delete_attachment(c, att_id)
    return Response(204)


class UploadSessions:
    """Upload sessions for large attachments (in this process's memory)."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()


SESSIONS = UploadSessions()
MAX_UPLOAD = 150 * 1024 * 1024


@route("POST", "messages", "*", "attachments", "createUploadSession")
def create_upload_session(req: Request, args: list[str]) -> Response:
    row = message_row(req, args[0])
    spec = req.json().get("AttachmentItem") or req.json().get("attachmentItem")
    if not isinstance(spec, dict) or not spec.get("name") or not isinstance(spec.get("size"), int):
        raise bad_request("AttachmentItem with name and size is required.", "ErrorInvalidRequest")
    if not 0 < spec["size"] <= MAX_UPLOAD:
        raise bad_request(
            "The attachment size must be between 1 byte and 150 MB.",
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
        )
    token = uuid.uuid4().hex
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)
    with SESSIONS.lock:
        SESSIONS.sessions[token] = {
            "item": row.id,
            "name": str(spec["name"]),
            "size": spec["size"],
            "content_type": str(spec.get("contentType") or "application/octet-stream"),
            "is_inline": bool(spec.get("isInline")),
            "content_id": spec.get("contentId"),
            "data": bytearray(),
            "expires": expires,
            "user_url": req.user_url(),
        }
    return Response(
        201,
        {
            "@odata.context": f"{req.base}/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": f"{req.base}/v1.0/$upload/{token}",
            "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "nextExpectedRanges": ["0-"],
        },
    )


CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def upload_chunk(
    server: Any, method: str, token: str, headers: dict[str, str], body: bytes
) -> Response:
    """PUT a byte range to an upload session (pre-authenticated by its URL, like Graph's)."""
    with SESSIONS.lock:
        session = SESSIONS.sessions.get(token)
    if session is None:
        raise GraphError(
            404, "ErrorItemNotFound", "The upload session was not found or has expired."
        )
    if method == "DELETE":
        with SESSIONS.lock:
            SESSIONS.sessions.pop(token, None)
        return Response(204)
    match = CONTENT_RANGE.match(headers.get("content-range", "").strip())
    if method != "PUT" or match is None:
        raise bad_request("A PUT with a Content-Range header is required.", "InvalidRequest")
    start, end, total = (int(g) for g in match.groups())
    if total != session["size"] or start != len(session["data"]) or end - start + 1 != len(body):
        raise GraphError(
            416,
            "InvalidRange",
            f"Expected the range starting at {len(session['data'])} of {session['size']} bytes.",
        )
    session["data"].extend(body)
    if len(session["data"]) < session["size"]:
        return Response(
            200,
            {
                "expirationDateTime": session["expires"].strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                "nextExpectedRanges": [f"{len(session['data'])}-"],
            },
        )
    with SESSIONS.lock:
        SESSIONS.sessions.pop(token, None)
    row = server.store.item(session["item"])
    if row is None:
        raise not_found()
    att = _attachment_element(
        {
            "name": session["name"],
            "contentType": session["content_type"],
            "contentBytes": base64.b64encode(bytes(session["data"])).decode(),
            "isInline": session["is_inline"],
            "contentId": session["content_id"],
        }
    )
    with server.store.write() as c:
        att_id, _ = server.mail.add_attachment(c, row, att)
    location = (
        f"{session['user_url']}/messages/{ids.rest_id(row.id)}/attachments/{ids.rest_id(att_id)}"
    )
    return Response(201, None, {"Location": location})


# -- delta ---------------------------------------------------------------------------------


def encode_token(store: Any, state: dict[str, Any]) -> str:
    payload = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(store.secret, b"graph-delta" + payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


def decode_token(store: Any, token: str) -> dict[str, Any]:
    """The state of a delta or skip token; 410 syncStateNotFound when it is not ours."""
    gone = GraphError(410, "SyncStateNotFound", SYNC_GONE)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise gone from None
    payload, mac = raw[:-12], raw[-12:]
    expected = hmac.new(store.secret, b"graph-delta" + payload, hashlib.sha256).digest()[:12]
    if len(raw) <= 12 or not hmac.compare_digest(mac, expected):
        raise gone
    try:
        state = json.loads(payload)
    except ValueError:
        raise gone from None
    if not isinstance(state, dict):
        raise gone
    return state


def delta_page(
    req: Request,
    folder: Folder,
    path: str,
    odata_type: str,
    render: Any,
    default_page: int = DEFAULT_PAGE,
) -> Response:
    """One page of a per-folder delta over the store's change sequence and tombstones."""
    token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
    select = req.select()
    if token:
        state = decode_token(req.store, token)
        if state.get("f") != folder.id or state.get("t") != odata_type:
            raise GraphError(410, "SyncStateNotFound", SYNC_GONE)
        after, select = int(state.get("s", 0)), state.get("sel") or select
        initial = bool(state.get("i"))
    else:
        after, initial = 0, True
    size = req.page_size(default_page)
    rows = req.store.sync_rows(folder.id, after, size)
    value = []
    for _seq, kind, item_id, row in rows:
        if kind == "gone":
            if not initial:
                value.append(
                    {
                        "@odata.type": odata_type,
                        "id": req.item_id(item_id),
                        "@removed": {"reason": "deleted"},
                    }
                )
        elif row is not None:
            value.append(render(row, select))
    last = rows[-1][0] if rows else after
    more = len(rows) >= size
    state = {
        "f": folder.id,
        "t": odata_type,
        "s": last if more else max(last, after),
        "sel": select,
    }
    payload: dict[str, Any] = {
        "@odata.context": f"{req.base}/v1.0/$metadata#Collection({odata_type[1:]})",
        "value": value,
    }
    link = f"{req.user_url()}/{path}"
    if more:
        state["i"] = initial
        payload["@odata.nextLink"] = f"{link}?$skiptoken={encode_token(req.store, state)}"
    else:
        payload["@odata.deltaLink"] = f"{link}?$deltatoken={encode_token(req.store, state)}"
    return Response(200, payload)


@route("GET", "mailFolders", "*", "messages", "delta")
def message_delta(req: Request, args: list[str]) -> Response:
    folder = req.folder(args[0])

    def render(row: ItemRow, select: list[str] | None) -> dict[str, Any]:
        if row.kind not in MESSAGE_KINDS:
            return {"@odata.type": "#microsoft.graph.message", "id": req.item_id(row.id)}
        out = mp.select(message_resource(req, row), select)
        out["@odata.type"] = "#microsoft.graph.message"
        return out

    return delta_page(
        req, folder, f"mailFolders/{args[0]}/messages/delta", "#microsoft.graph.message", render
    )


# -- translateExchangeIds ------------------------------------------------------------------
# Microsoft's reference (https://learn.microsoft.com/graph/api/user-translateexchangeids)
# lists delegated permissions only: "Application: Not supported". The emulator issues
# application (client-credentials) tokens only, so it refuses every call, as Graph refuses an
# application, whatever roles the token carries.


@route("POST", "translateExchangeIds", roles=())
def translate_ids(req: Request, args: list[str]) -> Response:
    raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
