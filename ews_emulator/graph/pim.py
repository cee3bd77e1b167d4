"""Graph contacts (and contact folders) and Microsoft To Do (lists and tasks) over the store.

Contacts: https://learn.microsoft.com/graph/api/resources/contact, .../contactfolder,
.../api/contact-delta. To Do: https://learn.microsoft.com/graph/api/resources/todotasklist,
.../resources/todotask, .../api/todotask-delta. To Do lists are the mailbox's task folders
(the Tasks folder is the `defaultList`), tasks are the EWS Task items they hold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..soap import Element
from ..store import Folder, ItemRow
from . import ids
from . import mapping as mp
from .api import Request, Response, route
from .errors import GraphError, bad_request
from .mail import (
    create_folder,
    delete_row,
    delta_page,
    ews,
    filtered_ids,
    item_row,
    list_page,
    new_item,
    one,
    split_top,
    write_fields,
)

CONTACTS = ("Contacts.ReadWrite",)
TASKS = ("Tasks.ReadWrite",)
TNS = mp.TNS

# Graph contact property -> EWS element, for the plain string properties.
CONTACT_STRINGS = {
    "givenName": "GivenName",
    "middleName": "MiddleName",
    "surname": "Surname",
    "nickName": "Nickname",
    "displayName": "DisplayName",
    "fileAs": "FileAs",
    "initials": "Initials",
    "generation": "Generation",
    "jobTitle": "JobTitle",
    "companyName": "CompanyName",
    "department": "Department",
    "officeLocation": "OfficeLocation",
    "profession": "Profession",
    "businessHomePage": "BusinessHomePage",
    "assistantName": "AssistantName",
    "manager": "Manager",
    "spouseName": "SpouseName",
}
PHONES = {
    "businessPhones": ("BusinessPhone", "BusinessPhone2"),
    "homePhones": ("HomePhone", "HomePhone2"),
}
ADDRESSES = {"homeAddress": "Home", "businessAddress": "Business", "otherAddress": "Other"}
ADDRESS_PARTS = {
    "street": "Street",
    "city": "City",
    "state": "State",
    "countryOrRegion": "CountryOrRegion",
    "postalCode": "PostalCode",
}


def _entries(elem: Element, holder: str) -> dict[str, Element]:
    found = elem.find(f"{TNS}{holder}")
    return {e.get("Key", ""): e for e in found} if found is not None else {}


def contact_json(req: Request, row: ItemRow) -> dict[str, Any]:
    elem = mp.parse(row.xml)
    f = mp.fields_of(elem)

    def text(name: str) -> str | None:
        node = f.get(name)
        return node.text if node is not None else None

    emails = _entries(elem, "EmailAddresses")
    phones = _entries(elem, "PhoneNumbers")
    addresses = _entries(elem, "PhysicalAddresses")
    ims = _entries(elem, "ImAddresses")
    categories = f.get("Categories")
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{row.change_key}"',
        "id": req.item_id(row.id),
        "createdDateTime": text("DateTimeCreated"),
        "lastModifiedDateTime": text("LastModifiedTime"),
        "changeKey": row.change_key,
        "categories": [c.text or "" for c in categories] if categories is not None else [],
        "parentFolderId": ids.rest_id(row.folder_id),
        "birthday": text("Birthday"),
        "title": None,
        "personalNotes": text("TextBody") or "",
        "emailAddresses": [
            {"name": e.get("Name") or (e.text or ""), "address": e.text or ""}
            for key, e in sorted(emails.items())
            if e.text
        ],
        "imAddresses": [e.text or "" for _, e in sorted(ims.items()) if e.text],
        "mobilePhone": phones["MobilePhone"].text if "MobilePhone" in phones else None,
    }
    for prop, element in CONTACT_STRINGS.items():
        out[prop] = text(element)
    for prop, keys in PHONES.items():
        out[prop] = [phones[k].text for k in keys if k in phones and phones[k].text]
    for prop, key in ADDRESSES.items():
        entry = addresses.get(key)
        out[prop] = (
            {p: entry.findtext(f"{TNS}{e}") for p, e in ADDRESS_PARTS.items() if entry is not None}
            if entry is not None
            else {}
        )
    out["children"] = []
    return out


def contact_fields(payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    fields: dict[str, Any] = {}
    ext: list[str] = []
    phones: dict[str, str] = {}
    addresses: dict[str, dict[str, str]] = {}
    for key, value in payload.items():
        if key.startswith("@odata") or key in ("id", "changeKey", "parentFolderId"):
            continue
        if key in CONTACT_STRINGS:
            fields[CONTACT_STRINGS[key]] = "" if value is None else str(value)
        elif key == "emailAddresses":
            emails = [str((v or {}).get("address") or "") for v in value or []]
            fields["EmailAddresses"] = {
                f"EmailAddress{n}": address for n, address in enumerate(emails[:3], start=1)
            }
        elif key in PHONES:
            numbers = [str(n) for n in value or [] if n]
            for n, name in enumerate(PHONES[key]):
                phones[name] = numbers[n] if n < len(numbers) else ""
        elif key == "mobilePhone":
            phones["MobilePhone"] = str(value or "")
        elif key in ADDRESSES:
            addresses[ADDRESSES[key]] = {
                ADDRESS_PARTS[p]: str(v)
                for p, v in (value or {}).items()
                if p in ADDRESS_PARTS and v
            }
        elif key == "imAddresses":
            fields["ImAddresses"] = {f"ImAddress{n}": str(v) for n, v in enumerate(value[:3], 1)}
        elif key == "categories":
            fields["Categories"] = [str(c) for c in value or []]
        elif key == "personalNotes":
            fields["Body"] = {"type": "Text", "value": str(value or "")}
        elif key == "birthday":
            if value is not None:  # null: left as it is (the emulator cannot clear it)
                fields["Birthday"] = str(value)
        elif key == "singleValueExtendedProperties":
            for prop in value or []:
                phone = mp.CONTACT_PHONE_TAGS.get(mp.canonical_prop_id(str(prop["id"])))
                if phone is not None:
                    # A phone number's own MAPI property: the PhoneNumbers entry EWS shows.
                    phones[phone] = str(prop.get("value") or "")
                else:
                    ext.append(mp.ext_property_xml(str(prop["id"]), prop.get("value", "")))
        else:
            raise bad_request(
                f"Could not find a property named '{key}' on type 'microsoft.graph.contact'.",
                "RequestBodyRead",
            )
    if phones:
        # Each phone is its own property: "" clears it (the entry is dropped), and a PATCH
        # leaves the phones it does not name as they are (`_with_other_phones`).
        fields["PhoneNumbers"] = phones
    if addresses:
        fields["PhysicalAddresses"] = addresses
    return fields, ext


def _contact_folder(req: Request, given: str | None) -> Folder:
    folder = req.folder(given or "contacts")
    if folder.folder_class != "IPF.Contact":
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return folder


def _listing_render(
    req: Request, full: Callable[[Request, ItemRow], dict[str, Any]]
) -> Callable[[ItemRow], dict[str, Any]]:
    """How a listing renders an item: with `$select=id` and no `$filter`, only what the
    selection keeps of the whole resource (its etag and id, the first keys of contact_json
    and task_json), as a client lists the ids to expand properties on."""
    chosen = {s.lower() for s in req.select() or []}
    if chosen == {"id"} and not req.query.get("$filter"):
        return lambda r: {"@odata.etag": f'W/"{r.change_key}"', "id": req.item_id(r.id)}
    return lambda r: full(req, r)


def _contacts_list(req: Request, folder: Folder) -> Response:
    rows = [r for r in req.store.items_in_folder(folder.id) if r.kind == "Contact"]
    path = f"contactFolders/{ids.rest_id(folder.id)}/contacts"
    return list_page(req, rows, _listing_render(req, contact_json), path)


@route("GET", "contacts", roles=CONTACTS)
def list_contacts(req: Request, args: list[str]) -> Response:
    return _contacts_list(req, _contact_folder(req, None))


@route("GET", "contactFolders", "*", "contacts", roles=CONTACTS)
def list_folder_contacts(req: Request, args: list[str]) -> Response:
    return _contacts_list(req, _contact_folder(req, args[0]))


def _create_contact(req: Request, folder: Folder) -> Response:
    fields, ext = contact_fields(req.json())
    phones = {key: n for key, n in fields.pop("PhoneNumbers", {}).items() if n}
    if phones:
        fields["PhoneNumbers"] = phones
    row = new_item(req, folder, "Contact", fields, ext)
    return Response(201, contact_json(req, row))


@route("POST", "contacts", roles=CONTACTS)
def create_contact(req: Request, args: list[str]) -> Response:
    return _create_contact(req, _contact_folder(req, None))


@route("POST", "contactFolders", "*", "contacts", roles=CONTACTS)
def create_folder_contact(req: Request, args: list[str]) -> Response:
    return _create_contact(req, _contact_folder(req, args[0]))


@route("GET", "contacts", "*", roles=CONTACTS)
def get_contact(req: Request, args: list[str]) -> Response:
    row = item_row(req, args[0], ("Contact",))
    return Response(200, one(req, row, contact_json(req, row)))


@route("PATCH", "contacts", "*", roles=CONTACTS)
def update_contact(req: Request, args: list[str]) -> Response:
    row = item_row(req, args[0], ("Contact",))
    fields, ext = contact_fields(req.json())
    if "PhoneNumbers" in fields:
        fields["PhoneNumbers"] = _with_other_phones(row, fields["PhoneNumbers"])
        if not fields["PhoneNumbers"]:
            del fields["PhoneNumbers"]
            return Response(
                200,
                contact_json(req, write_fields(req, row, fields, ext, remove=["PhoneNumbers"])),
            )
    return Response(200, contact_json(req, write_fields(req, row, fields, ext)))


def _with_other_phones(row: ItemRow, given: dict[str, str]) -> dict[str, str]:
    """The contact's phone numbers after a PATCH naming `given` ("" clears one)."""
    phones = {key: e.text or "" for key, e in _entries(mp.parse(row.xml), "PhoneNumbers").items()}
    phones.update(given)
    return {key: number for key, number in phones.items() if number}


@route("DELETE", "contacts", "*", roles=CONTACTS)
def delete_contact(req: Request, args: list[str]) -> Response:
    return delete_row(req, item_row(req, args[0], ("Contact",)), "MoveToDeletedItems")


def _contact_folder_json(req: Request, folder: Folder) -> dict[str, Any]:
    return {
        "id": ids.rest_id(folder.id),
        "displayName": folder.display_name,
        "parentFolderId": ids.rest_id(folder.parent_id or ""),
    }


@route("GET", "contactFolders", roles=CONTACTS)
def list_contact_folders(req: Request, args: list[str]) -> Response:
    # The folders in the default Contacts folder, not that folder itself
    # (https://learn.microsoft.com/graph/api/user-list-contactfolders).
    return _child_contact_folders(req, _contact_folder(req, None))


def _child_contact_folders(req: Request, parent: Folder) -> Response:
    folders = [f for f in req.store.child_folders(parent.id) if f.folder_class == "IPF.Contact"]
    return Response(200, {"value": [_contact_folder_json(req, f) for f in folders]})


@route("GET", "contactFolders", "*", "childFolders", roles=CONTACTS)
def list_contact_child_folders(req: Request, args: list[str]) -> Response:
    return _child_contact_folders(req, _contact_folder(req, args[0]))


@route("POST", "contacts", "*", "permanentDelete", roles=CONTACTS)
def permanently_delete_contact(req: Request, args: list[str]) -> Response:
    return delete_row(req, item_row(req, args[0], ("Contact",)), "HardDelete")


@route("GET", "contactFolders", "*", roles=CONTACTS)
def get_contact_folder(req: Request, args: list[str]) -> Response:
    return Response(200, _contact_folder_json(req, _contact_folder(req, args[0])))


@route("POST", "contactFolders", roles=CONTACTS)
def create_contact_folder(req: Request, args: list[str]) -> Response:
    # In Contacts, or in the folder the body's parentFolderId names
    # (https://learn.microsoft.com/graph/api/user-post-contactfolders).
    parent = str(req.json().get("parentFolderId") or "") or None
    return _create_contact_folder(req, _contact_folder(req, parent))


@route("POST", "contactFolders", "*", "childFolders", roles=CONTACTS)
def create_contact_child_folder(req: Request, args: list[str]) -> Response:
    # https://learn.microsoft.com/graph/api/contactfolder-post-childfolders
    return _create_contact_folder(req, _contact_folder(req, args[0]))


def _create_contact_folder(req: Request, parent: Folder) -> Response:
    return create_folder(req, parent, "IPF.Contact", "ContactsFolder", _contact_folder_json)


def _delete_contact_folder(req: Request, given: str, mode: str) -> Response:
    """Through EWS DeleteFolder: the default Contacts folder is refused as EWS refuses it."""
    folder = _contact_folder(req, given)
    ews(
        req,
        "DeleteFolder",
        f'<m:FolderIds><t:FolderId Id="{folder.id}"/></m:FolderIds>',
        DeleteType=mode,
    )
    return Response(204)


@route("DELETE", "contactFolders", "*", roles=CONTACTS)
def delete_contact_folder(req: Request, args: list[str]) -> Response:
    # https://learn.microsoft.com/graph/api/contactfolder-delete
    return _delete_contact_folder(req, args[0], "MoveToDeletedItems")


@route("POST", "contactFolders", "*", "permanentDelete", roles=CONTACTS)
def permanently_delete_contact_folder(req: Request, args: list[str]) -> Response:
    # https://learn.microsoft.com/graph/api/contactfolder-permanentdelete
    return _delete_contact_folder(req, args[0], "HardDelete")


def _contact_delta(req: Request, folder: Folder, path: str) -> Response:
    def render(row: ItemRow, select: list[str] | None) -> dict[str, Any]:
        out = mp.select(contact_json(req, row), select)
        out["@odata.type"] = "#microsoft.graph.contact"
        return out

    return delta_page(req, folder, path, "#microsoft.graph.contact", render)


@route("GET", "contacts", "delta", roles=CONTACTS)
def contacts_delta(req: Request, args: list[str]) -> Response:
    return _contact_delta(req, _contact_folder(req, None), "contacts/delta")


@route("GET", "contactFolders", "*", "contacts", "delta", roles=CONTACTS)
def folder_contacts_delta(req: Request, args: list[str]) -> Response:
    return _contact_delta(
        req, _contact_folder(req, args[0]), f"contactFolders/{args[0]}/contacts/delta"
    )


# -- Microsoft To Do -------------------------------------------------------------------------

STATUS_TO_GRAPH = {
    "NotStarted": "notStarted",
    "InProgress": "inProgress",
    "Completed": "completed",
    "WaitingOnOthers": "waitingOnOthers",
    "Deferred": "deferred",
}
STATUS_TO_EWS = {v.lower(): k for k, v in STATUS_TO_GRAPH.items()}
TASK_DATES = {
    "dueDateTime": "DueDate",
    "startDateTime": "StartDate",
    "completedDateTime": "CompleteDate",
}


def _task_list(req: Request, given: str) -> Folder:
    folder = req.folder(given)
    if folder.folder_class != "IPF.Task":
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return folder


def _date_time(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    return {"dateTime": value.rstrip("Z") + ".0000000", "timeZone": "UTC"}


def task_json(req: Request, row: ItemRow) -> dict[str, Any]:
    elem = mp.parse(row.xml)
    f = mp.fields_of(elem)

    def text(name: str) -> str | None:
        node = f.get(name)
        return node.text if node is not None else None

    categories = f.get("Categories")
    return {
        "@odata.etag": f'W/"{row.change_key}"',
        "id": req.item_id(row.id),
        "title": text("Subject") or "",
        "body": mp.body_json(f.get("Body")),
        "importance": (text("Importance") or "Normal").lower(),
        "status": STATUS_TO_GRAPH.get(text("Status") or "NotStarted", "notStarted"),
        "isReminderOn": text("ReminderIsSet") == "true",
        "hasAttachments": text("HasAttachments") == "true",
        "categories": [c.text or "" for c in categories] if categories is not None else [],
        "createdDateTime": text("DateTimeCreated"),
        "lastModifiedDateTime": text("LastModifiedTime"),
        "bodyLastModifiedDateTime": text("LastModifiedTime"),
        "dueDateTime": _date_time(text("DueDate")),
        "startDateTime": _date_time(text("StartDate")),
        "completedDateTime": _date_time(text("CompleteDate")),
    }


def _utc(value: Any, key: str) -> str:
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise bad_request(f"'{key}' must be a dateTimeTimeZone.")
    from .calendar import to_utc

    return to_utc(str(value["dateTime"]), str(value.get("timeZone") or "UTC"))


def task_fields(
    payload: dict[str, Any], *, creating: bool = False
) -> tuple[dict[str, Any], list[str]]:
    fields: dict[str, Any] = {}
    ext: list[str] = []
    for key, value in payload.items():
        if key.startswith("@odata") or key in ("id",):
            continue
        if key == "title":
            fields["Subject"] = str(value or "")
        elif key == "body":
            fields["Body"] = mp.body_field(value)
        elif key == "importance":
            fields["Importance"] = str(value).title()
        elif key == "status":
            status = STATUS_TO_EWS.get(str(value).lower())
            if status is None:
                raise bad_request(f"Invalid status '{value}'.")
            fields["Status"] = status
        elif key == "categories":
            fields["Categories"] = [str(c) for c in value or []]
        elif key in TASK_DATES:
            # null clears a date (the element is written empty, then dropped below)
            fields[TASK_DATES[key]] = None if value is None else _utc(value, key)
        elif key == "isReminderOn":
            fields["ReminderIsSet"] = bool(value)
        elif key == "extensions" and creating:
            # Open extensions made with the task (Create open extension: "in a new resource
            # instance"); a todoTask has no extended properties (module docstring).
            ext.extend(extension_xml(e) for e in value or [])
        else:
            raise bad_request(
                f"Could not find a property named '{key}' on type 'microsoft.graph.todoTask'.",
                "RequestBodyRead",
            )
    return fields, ext


# -- open extensions of To Do tasks ----------------------------------------------------------
# Graph v1.0 stores custom data on a todoTask in open extensions only: the todoTask page
# names them ("Adding your data as custom properties in open extensions") and the Outlook
# extended properties overview lists message, mailFolder, event, calendar, contact and
# contactFolder, not todoTask, so `singleValueExtendedProperties` is refused on a task like any
# property it does not have. An extension is kept as a String named property of the
# emulator's own set, named after the extension, its custom data as JSON (where Exchange keeps
# open extensions is not documented).
EXTENSION_SET = "4f2a6c1e-8b7d-4e0a-9c3f-6f70656e6578"
EXTENSION_TYPE = "#microsoft.graph.openTypeExtension"
EXTENSION_PREFIX = "microsoft.graph.openTypeExtension."


def _extension_prop_id(name: str) -> str:
    return f"String {{{EXTENSION_SET}}} Name {name}"


def extension_xml(payload: Any) -> str:
    """The stored property of an openTypeExtension body (`extensionName` and custom data)."""
    if not isinstance(payload, dict) or not str(payload.get("extensionName") or "").strip():
        raise bad_request("An open extension needs its extensionName.", "RequestBodyRead")
    if str(payload.get("@odata.type") or "").lstrip("#") != EXTENSION_TYPE.lstrip("#"):
        raise bad_request(
            "An open extension's @odata.type must be microsoft.graph.openTypeExtension.",
            "RequestBodyRead",
        )
    name = str(payload["extensionName"]).strip()
    data = {k: v for k, v in payload.items() if not k.startswith("@odata") and k != "id"}
    return mp.ext_property_xml(
        _extension_prop_id(name), json.dumps(data, ensure_ascii=False, sort_keys=True)
    )


def extensions_of(elem: Element) -> list[dict[str, Any]]:
    """The item's open extensions as Graph answers them."""
    found = []
    for prop in mp.extended_properties(elem):
        canonical = mp.canonical_prop_id(prop["id"])
        head = f"String {{{EXTENSION_SET}}} Name ".lower()
        if not canonical.lower().startswith(head):
            continue
        try:
            data = json.loads(prop["value"])
        except ValueError:
            continue
        name = str(data.get("extensionName") or canonical[len(head) :])
        found.append({"@odata.type": EXTENSION_TYPE, "id": EXTENSION_PREFIX + name, **data})
    return found


def _extension_matches(extension: dict[str, Any], wanted: str) -> bool:
    """An extension named by its name or its fully qualified id (as the Get open extension
    page allows), ignoring case."""
    wanted = wanted.lower()
    return wanted in (str(extension["extensionName"]).lower(), str(extension["id"]).lower())


EXPAND_EXTENSIONS = re.compile(r"^extensions(?:\(\s*\$filter\s*=\s*(.+)\))?$", re.IGNORECASE)


def task_one(req: Request, row: ItemRow, full: dict[str, Any]) -> dict[str, Any]:
    """A task with $select and $expand applied: `extensions`, with an `id eq` filter or not;
    a todoTask has no extended properties to expand."""
    out = mp.select(full, req.select())
    for part in split_top(req.query.get("$expand") or ""):
        match = EXPAND_EXTENSIONS.match(part)
        if match is None:
            name = part.split("(", 1)[0].strip()
            raise bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.todoTask'."
            )
        found = extensions_of(mp.parse(row.xml))
        if match.group(1):
            wanted = filtered_ids(match.group(1))
            found = [e for e in found if any(_extension_matches(e, w) for w in wanted)]
        out["extensions"] = found
    return out


def _no_extended_properties(req: Request) -> None:
    if "extendedproperties" in (req.query.get("$filter") or "").lower():
        raise bad_request(
            "Could not find a property named 'singleValueExtendedProperties' on type "
            "'microsoft.graph.todoTask'."
        )


def _list_json(req: Request, folder: Folder) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"{folder.change_key}"',
        "id": ids.rest_id(folder.id),
        "displayName": folder.display_name,
        "isOwner": True,
        "isShared": False,
        "wellknownListName": "defaultList" if folder.distinguished == "tasks" else "none",
    }


@route("GET", "todo", "lists", roles=TASKS)
def list_task_lists(req: Request, args: list[str]) -> Response:
    root = _task_list(req, "tasks")
    lists = [root, *[f for f in req.store.child_folders(root.id) if f.folder_class == "IPF.Task"]]
    return Response(200, {"value": [_list_json(req, f) for f in lists]})


@route("POST", "todo", "lists", roles=TASKS)
def create_task_list(req: Request, args: list[str]) -> Response:
    name = str(req.json().get("displayName") or "").strip()
    if not name:
        raise bad_request("displayName is required.", "invalidRequest")
    with req.store.write() as c:
        folder = req.store.create_folder(
            c, _task_list(req, "tasks"), name, "IPF.Task", "TasksFolder"
        )
    return Response(201, _list_json(req, folder))


@route("GET", "todo", "lists", "*", roles=TASKS)
def get_task_list(req: Request, args: list[str]) -> Response:
    return Response(200, _list_json(req, _task_list(req, args[0])))


@route("GET", "todo", "lists", "*", "tasks", roles=TASKS)
def list_tasks(req: Request, args: list[str]) -> Response:
    folder = _task_list(req, args[0])
    _no_extended_properties(req)
    rows = [r for r in req.store.items_in_folder(folder.id) if r.kind == "Task"]
    return list_page(
        req, rows, _listing_render(req, task_json), f"todo/lists/{args[0]}/tasks", shape=task_one
    )


@route("POST", "todo", "lists", "*", "tasks", roles=TASKS)
def create_task(req: Request, args: list[str]) -> Response:
    payload = req.json()
    fields, ext = task_fields(payload, creating=True)
    if not fields.get("Subject"):
        raise bad_request("title is required.", "invalidRequest")
    row = new_item(req, _task_list(req, args[0]), "Task", fields, ext)
    out = task_json(req, row)
    if payload.get("extensions"):
        out["extensions"] = extensions_of(mp.parse(row.xml))
    return Response(201, out)


def _task_row(req: Request, list_id: str, given: str) -> ItemRow:
    folder = _task_list(req, list_id)
    row = item_row(req, given, ("Task",))
    if row.folder_id != folder.id:
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return row


@route("GET", "todo", "lists", "*", "tasks", "*", roles=TASKS)
def get_task(req: Request, args: list[str]) -> Response:
    row = _task_row(req, *args)
    return Response(200, task_one(req, row, task_json(req, row)))


@route("PATCH", "todo", "lists", "*", "tasks", "*", roles=TASKS)
def update_task(req: Request, args: list[str]) -> Response:
    row = _task_row(req, *args)
    fields, ext = task_fields(req.json())
    cleared = [name for name, value in fields.items() if value is None]
    row = write_fields(req, row, fields, ext, remove=cleared)
    return Response(200, task_json(req, row))


@route("POST", "todo", "lists", "*", "tasks", "*", "extensions", roles=TASKS)
def create_task_extension(req: Request, args: list[str]) -> Response:
    row = _task_row(req, *args)
    prop = extension_xml(req.json())
    name = str(req.json()["extensionName"]).strip()
    if any(_extension_matches(e, name) for e in extensions_of(mp.parse(row.xml))):
        # The emulator's answer: the reference names none for an extension that exists.
        raise GraphError(409, "NameAlreadyExists", "An extension with this name already exists.")
    row = write_fields(req, row, {}, [prop])
    (made,) = [e for e in extensions_of(mp.parse(row.xml)) if _extension_matches(e, name)]
    return Response(201, made)


def _task_extension(req: Request, args: list[str]) -> tuple[ItemRow, dict[str, Any]]:
    row = _task_row(req, args[0], args[1])
    for extension in extensions_of(mp.parse(row.xml)):
        if _extension_matches(extension, args[2]):
            return row, extension
    raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


@route("GET", "todo", "lists", "*", "tasks", "*", "extensions", "*", roles=TASKS)
def get_task_extension(req: Request, args: list[str]) -> Response:
    return Response(200, _task_extension(req, args)[1])


@route("PATCH", "todo", "lists", "*", "tasks", "*", "extensions", "*", roles=TASKS)
def update_task_extension(req: Request, args: list[str]) -> Response:
    """Update open extension: the properties sent replace the extension's custom data."""
    row, extension = _task_extension(req, args)
    name = str(extension["extensionName"])
    body = {
        "@odata.type": EXTENSION_TYPE,
        **{k: v for k, v in req.json().items() if not k.startswith("@odata")},
        "extensionName": name,
    }
    row = write_fields(req, row, {}, [extension_xml(body)])
    (made,) = [e for e in extensions_of(mp.parse(row.xml)) if _extension_matches(e, name)]
    return Response(200, made)


@route("DELETE", "todo", "lists", "*", "tasks", "*", "extensions", "*", roles=TASKS)
def delete_task_extension(req: Request, args: list[str]) -> Response:
    row, extension = _task_extension(req, args)
    prop_id = _extension_prop_id(str(extension["extensionName"]))
    with req.store.write() as c:
        fresh = req.store.item(row.id) or row

        def mutate(elem: Element) -> set[str]:
            for old in elem.findall(f"{TNS}ExtendedProperty"):
                uri = old.find(f"{TNS}ExtendedFieldURI")
                found = mp.ext_prop_id(uri) if uri is not None else None
                if found and mp.canonical_prop_id(found) == mp.canonical_prop_id(prop_id):
                    elem.remove(old)
            return {"ExtendedProperty"}

        req.server.mail.change_item(c, fresh, mutate)
    return Response(204)


@route("DELETE", "todo", "lists", "*", "tasks", "*", roles=TASKS)
def delete_task(req: Request, args: list[str]) -> Response:
    return delete_row(req, _task_row(req, *args), "HardDelete")


@route("GET", "todo", "lists", "*", "tasks", "delta", roles=TASKS)
def tasks_delta(req: Request, args: list[str]) -> Response:
    if "$expand" in req.query:
        # As Graph answers it (https://learn.microsoft.com/answers/questions/959635).
        raise bad_request(
            "Parsing OData Select and Expand failed: Value cannot be null. "
            "(Parameter 'initialState')"
        )
    folder = _task_list(req, args[0])

    def render(row: ItemRow, select: list[str] | None) -> dict[str, Any]:
        out = mp.select(task_json(req, row), select)
        out["@odata.type"] = "#microsoft.graph.todoTask"
        return out

    return delta_page(
        req, folder, f"todo/lists/{args[0]}/tasks/delta", "#microsoft.graph.todoTask", render
    )
