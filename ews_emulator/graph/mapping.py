"""Stored EWS items as Graph JSON, and Graph JSON as the EWS field maps the store takes.

Reads go straight from the stored `<t:Message>` element to the `message` resource of
https://learn.microsoft.com/graph/api/resources/message; writes become the field maps of
`control_api.field_elements` (EWS element names), so both protocols write the same items.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from ..soap import T_NS, Element, local, parse_xml, t
from .errors import bad_request


def parse(xml: str | bytes) -> Element:
    """A stored item's XML (huge_tree: a large message's MIME is one long text node)."""
    return parse_xml(xml)


TNS = f"{{{T_NS}}}"

# Extended properties: EWS DistinguishedPropertySetId -> the GUID Graph ids name.
PROPERTY_SETS = {
    "Meeting": "6ED8DA90-450B-101B-98DA-00AA003F1305",
    "Appointment": "00062002-0000-0000-C000-000000000046",
    "Common": "00062008-0000-0000-C000-000000000046",
    "PublicStrings": "00020329-0000-0000-C000-000000000046",
    "Address": "00062004-0000-0000-C000-000000000046",
    "InternetHeaders": "00020386-0000-0000-C000-000000000046",
    "CalendarAssistant": "11000E07-B51B-40D6-AF21-CAA85EDAB1D0",
    "UnifiedMessaging": "4442858E-A9E3-4E80-B900-317A210CC15B",
    "Task": "00062003-0000-0000-C000-000000000046",
    "Sharing": "00062040-0000-0000-C000-000000000046",
}
SET_NAMES = {guid.lower(): name for name, guid in PROPERTY_SETS.items()}
# Graph's property type names -> EWS MapiPropertyTypeType.
PROPERTY_TYPES = {
    "string": "String",
    "integer": "Integer",
    "boolean": "Boolean",
    "systemtime": "SystemTime",
    "binary": "Binary",
    "double": "Double",
    "long": "Long",
    "float": "Float",
    "currency": "Currency",
    "guid": "CLSID",
    "short": "Short",
    "stringarray": "StringArray",
    "integerarray": "IntegerArray",
}
GRAPH_TYPE = {v: k for k, v in PROPERTY_TYPES.items()}
GRAPH_TYPE_TITLE = {
    "String": "String",
    "Integer": "Integer",
    "Boolean": "Boolean",
    "SystemTime": "SystemTime",
    "Binary": "Binary",
    "Double": "Double",
    "Long": "Long",
    "Float": "Float",
    "Currency": "Currency",
    "CLSID": "Guid",
    "Short": "Short",
    "StringArray": "StringArray",
    "IntegerArray": "IntegerArray",
}
PROP_ID = re.compile(
    r"^\s*(\w+)\s+(?:\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(.+?)|(0x[0-9a-fA-F]+))\s*$"
)


def ext_prop_id(uri: Element) -> str | None:
    """The Graph id (`String {guid} Name X`, `Integer 0x1234`) of an ExtendedFieldURI."""
    ptype = GRAPH_TYPE_TITLE.get(uri.get("PropertyType", ""), uri.get("PropertyType", ""))
    tag = uri.get("PropertyTag")
    if tag:
        number = int(tag, 16) if tag.lower().startswith("0x") else int(tag)
        return f"{ptype} 0x{number:04x}"
    guid = uri.get("PropertySetId") or PROPERTY_SETS.get(
        uri.get("DistinguishedPropertySetId", ""), ""
    )
    if not guid:
        return None
    if uri.get("PropertyName") is not None:
        return f"{ptype} {{{guid.lower()}}} Name {uri.get('PropertyName')}"
    if uri.get("PropertyId") is not None:
        return f"{ptype} {{{guid.lower()}}} Id 0x{int(uri.get('PropertyId', '0')):04x}"
    return None


def canonical_prop_id(value: str) -> str:
    """A Graph extended property id normalised for comparison (case of type, GUID, tag)."""
    match = PROP_ID.match(value)
    if match is None:
        raise bad_request(f"Invalid extended property id '{value}'.", "ErrorInvalidProperty")
    ptype, guid, kind, name, tag = match.groups()
    title = GRAPH_TYPE_TITLE.get(PROPERTY_TYPES.get(ptype.lower(), ""), "")
    if not title:
        raise bad_request(f"Invalid extended property type '{ptype}'.", "ErrorInvalidProperty")
    if tag:
        return f"{title} 0x{int(tag, 16):04x}"
    if kind == "Id":
        number = int(name, 16) if name.lower().startswith("0x") else int(name)
        return f"{title} {{{guid.lower()}}} Id 0x{number:04x}"
    return f"{title} {{{guid.lower()}}} Name {name}"


def ext_uri_xml(prop_id: str) -> str:
    """The `<t:ExtendedFieldURI .../>` of a Graph extended property id."""
    canonical = canonical_prop_id(prop_id)
    match = PROP_ID.match(canonical)
    assert match is not None
    ptype, guid, kind, name, tag = match.groups()
    ews_type = PROPERTY_TYPES[ptype.lower()]
    if tag:
        return f'<t:ExtendedFieldURI PropertyTag="{tag}" PropertyType="{ews_type}"/>'
    set_name = SET_NAMES.get(guid.lower())
    where = (
        f'DistinguishedPropertySetId="{set_name}"'
        if set_name
        else f'PropertySetId="{guid.lower()}"'
    )
    if kind == "Id":
        return (
            f'<t:ExtendedFieldURI {where} PropertyId="{int(name, 16)}" PropertyType="{ews_type}"/>'
        )
    escaped = name.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return f'<t:ExtendedFieldURI {where} PropertyName="{escaped}" PropertyType="{ews_type}"/>'


def ext_property_xml(prop_id: str, value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f"<t:ExtendedProperty>{ext_uri_xml(prop_id)}<t:Value>{text}</t:Value></t:ExtendedProperty>"
    )


# A contact's phone numbers that Graph's contact has no property for, each a MAPI property
# ([MS-OXOCNTC] 2.2.1.4, "Telephone Properties") that EWS shows as a PhoneNumbers entry:
# through Graph they are read and written as extended properties by property tag.
CONTACT_PHONE_TAGS = {
    "String 0x3a24": "BusinessFax",  # PidTagBusinessFaxNumber
    "String 0x3a25": "HomeFax",  # PidTagHomeFaxNumber
    "String 0x3a23": "OtherFax",  # PidTagPrimaryFaxNumber
    "String 0x3a21": "Pager",  # PidTagPagerTelephoneNumber
    "String 0x3a2e": "AssistantPhone",  # PidTagAssistantTelephoneNumber
    "String 0x3a1f": "OtherTelephone",  # PidTagOtherTelephoneNumber
    "String 0x3a02": "Callback",  # PidTagCallbackTelephoneNumber
    "String 0x3a1e": "CarPhone",  # PidTagCarTelephoneNumber
    "String 0x3a57": "CompanyMainPhone",  # PidTagCompanyMainTelephoneNumber
    "String 0x3a2d": "Isdn",  # PidTagIsdnNumber
    "String 0x3a1a": "PrimaryPhone",  # PidTagPrimaryTelephoneNumber
    "String 0x3a1d": "RadioPhone",  # PidTagRadioTelephoneNumber
    "String 0x3a2c": "Telex",  # PidTagTelexNumber
    "String 0x3a4b": "TtyTddPhone",  # PidTagTelecommunicationsDeviceForDeafTelephoneNumber
}
CONTACT_PHONE_PROPS = {key: prop_id for prop_id, key in CONTACT_PHONE_TAGS.items()}


def extended_properties(elem: Element) -> list[dict[str, str]]:
    out = []
    phones = elem.find(f"{TNS}PhoneNumbers")
    if etree.QName(elem).localname == "Contact" and phones is not None:
        for entry in phones:
            prop_id = CONTACT_PHONE_PROPS.get(entry.get("Key", ""))
            if prop_id is not None and entry.text:
                out.append({"id": prop_id, "value": entry.text})
    for prop in elem.iterchildren(f"{TNS}ExtendedProperty"):
        uri = prop.find(f"{TNS}ExtendedFieldURI")
        prop_id = ext_prop_id(uri) if uri is not None else None
        if prop_id is None:
            continue
        value = prop.findtext(f"{TNS}Value")
        if value is None:
            values = prop.find(f"{TNS}Values")
            value = ",".join(v.text or "" for v in values) if values is not None else ""
        out.append({"id": prop_id, "value": value})
    return out


# -- reading -------------------------------------------------------------------------------


def _address(mailbox: Element | None) -> dict[str, Any] | None:
    if mailbox is None:
        return None
    return {
        "emailAddress": {
            "name": mailbox.findtext(f"{TNS}Name") or mailbox.findtext(f"{TNS}EmailAddress") or "",
            "address": mailbox.findtext(f"{TNS}EmailAddress") or "",
        }
    }


def _recipients(holder: Element | None) -> list[dict[str, Any]]:
    if holder is None:
        return []
    return [a for a in (_address(mb) for mb in holder.iterchildren(f"{TNS}Mailbox")) if a]


def _bool(text: str | None) -> bool:
    return text == "true"


def fields_of(elem: Element) -> dict[str, Element]:
    """The item's children by local name (first of each), for quick lookups."""
    return {local(c.tag): c for c in reversed(elem) if isinstance(c.tag, str)}


def _tag_map(elem: Element) -> dict[Any, Element]:
    """The item's children by qualified tag (first of each): the fast path of message_json."""
    return {c.tag: c for c in reversed(elem)}


def body_json(body: Element | None) -> dict[str, str]:
    if body is None:
        return {"contentType": "text", "content": ""}
    kind = "html" if body.get("BodyType") == "HTML" else "text"
    return {"contentType": kind, "content": body.text or ""}


def body_field(value: Any) -> dict[str, str]:
    """A Graph itemBody as the `Body` of an EWS field map."""
    if not isinstance(value, dict):
        raise bad_request("body must be an itemBody object.")
    kind = "HTML" if str(value.get("contentType", "text")).lower() == "html" else "Text"
    return {"type": kind, "value": str(value.get("content") or "")}


def message_json(
    elem: Element,
    item_id: str,
    change_key: str,
    folder_id: str,
    conversation: Callable[[str], str],
) -> dict[str, Any]:
    """The Graph `message` of a stored Message element (ids already in Graph form)."""
    tags = _tag_map(elem)

    def node(name: str) -> Element | None:
        return tags.get(TNS + name)

    def text(name: str) -> str | None:
        found = tags.get(TNS + name)
        return found.text if found is not None else None

    categories = node("Categories")
    sender = node("Sender")
    frm = node("From")
    conv = node("ConversationId")
    preview = (text("TextBody") or "").strip()
    return {
        "@odata.etag": f'W/"{change_key}"',
        "id": item_id,
        "createdDateTime": text("DateTimeCreated"),
        "lastModifiedDateTime": text("LastModifiedTime"),
        "changeKey": change_key,
        "categories": [c.text or "" for c in categories] if categories is not None else [],
        "receivedDateTime": text("DateTimeReceived"),
        "sentDateTime": text("DateTimeSent"),
        "hasAttachments": _bool(text("HasAttachments")),
        "internetMessageId": text("InternetMessageId"),
        "subject": text("Subject") or "",
        "bodyPreview": preview[:255],
        "importance": (text("Importance") or "Normal").lower(),
        "parentFolderId": folder_id,
        "conversationId": conversation(conv.get("Id", "")) if conv is not None else None,
        "isDeliveryReceiptRequested": _bool(text("IsDeliveryReceiptRequested")),
        "isReadReceiptRequested": _bool(text("IsReadReceiptRequested")),
        "isRead": _bool(text("IsRead")),
        "isDraft": _bool(text("IsDraft")),
        "webLink": "https://outlook.office365.com/owa/?ItemID="
        + item_id
        + "&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "body": body_json(node("Body")),
        "sender": _address(sender.find(f"{TNS}Mailbox")) if sender is not None else None,
        "from": _address(frm.find(f"{TNS}Mailbox")) if frm is not None else None,
        "toRecipients": _recipients(node("ToRecipients")),
        "ccRecipients": _recipients(node("CcRecipients")),
        "bccRecipients": _recipients(node("BccRecipients")),
        "replyTo": _recipients(node("ReplyTo")),
        "flag": {"flagStatus": "notFlagged"},
    }


def attachment_json(xml: bytes, att_id: str, *, content: bool = True) -> dict[str, Any]:
    """A stored FileAttachment / ItemAttachment as Graph's attachment resource."""
    att = parse(xml)
    kind = local(att.tag)
    out: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.fileAttachment"
        if kind == "FileAttachment"
        else "#microsoft.graph.itemAttachment",
        "id": att_id,
        "lastModifiedDateTime": att.findtext(t("LastModifiedTime")),
        "name": att.findtext(t("Name")) or "",
        "contentType": att.findtext(t("ContentType")) or "application/octet-stream",
        "size": int(att.findtext(t("Size")) or 0),
        "isInline": att.findtext(t("IsInline")) == "true",
    }
    if kind == "FileAttachment":
        out["contentId"] = att.findtext(t("ContentId"))
        out["contentLocation"] = att.findtext(t("ContentLocation"))
        if content:
            out["contentBytes"] = att.findtext(t("Content")) or ""
    return out


def select(resource: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """$select: the named properties plus `id` and `@odata.etag` (names case-insensitive)."""
    if not fields:
        return resource
    wanted = {f.lower() for f in fields} | {"id", "@odata.etag"}
    return {k: v for k, v in resource.items() if k.lower() in wanted or k.startswith("@odata.t")}


# -- writing -------------------------------------------------------------------------------


def _mailbox_value(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("emailAddress"), dict):
        raise bad_request('A recipient must be {"emailAddress": {"address": ...}}.')
    address = value["emailAddress"]
    email = str(address.get("address") or "")
    if "@" not in email:
        raise GraphRecipientError(email)
    return (
        {"email": email, "name": str(address.get("name") or "")}
        if address.get("name")
        else {"email": email}
    )


class GraphRecipientError(Exception):
    pass


MESSAGE_WRITABLE = {
    "subject": "Subject",
    "body": "Body",
    "toRecipients": "ToRecipients",
    "ccRecipients": "CcRecipients",
    "bccRecipients": "BccRecipients",
    "replyTo": "ReplyTo",
    "from": "From",
    "sender": "Sender",
    "importance": "Importance",
    "isRead": "IsRead",
    "isDeliveryReceiptRequested": "IsDeliveryReceiptRequested",
    "isReadReceiptRequested": "IsReadReceiptRequested",
    "categories": "Categories",
    "internetMessageId": "InternetMessageId",
}


def message_fields(payload: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], list[str]]:
    """(EWS field map, extended properties as `<t:ExtendedProperty>` XML) of a Graph message."""
    fields: dict[str, Any] = {}
    ext: list[str] = []
    for key, value in payload.items():
        if key.startswith("@odata"):
            continue
        if key == "singleValueExtendedProperties":
            if not isinstance(value, list):
                raise bad_request("singleValueExtendedProperties must be an array.")
            for prop in value:
                if not isinstance(prop, dict) or "id" not in prop:
                    raise bad_request("An extended property needs an id and a value.")
                ext.append(ext_property_xml(str(prop["id"]), prop.get("value", "")))
            continue
        name = MESSAGE_WRITABLE.get(key)
        if name is None:
            if key in ("id", "changeKey", "createdDateTime", "lastModifiedDateTime"):
                continue
            raise bad_request(
                f"Could not find a property named '{key}' on type 'microsoft.graph.message'.",
                "RequestBodyRead",
            )
        if key == "internetMessageId" and not creating:
            raise bad_request(
                "The property 'internetMessageId' can be set only on a new item.",
                "ErrorInvalidPropertySet",
            )
        try:
            if name == "Body":
                fields["Body"] = body_field(value)
            elif name in ("ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo"):
                fields[name] = [_mailbox_value(v) for v in value or []]
            elif name in ("From", "Sender"):
                fields[name] = _mailbox_value(value)
            elif name == "Importance":
                level = str(value).lower()
                if level not in ("low", "normal", "high"):
                    raise bad_request(f"Invalid importance '{value}'.")
                fields[name] = level.title()
            elif name == "Categories":
                fields[name] = [str(c) for c in value or []]
            elif name in ("IsRead", "IsDeliveryReceiptRequested", "IsReadReceiptRequested"):
                if not isinstance(value, bool):
                    raise bad_request(f"'{key}' must be a boolean.")
                fields[name] = value
            else:
                fields[name] = "" if value is None else str(value)
        except GraphRecipientError as e:
            raise bad_request(
                f"At least one recipient is not valid: '{e}' is not an SMTP address.",
                "ErrorInvalidRecipients",
            ) from None
    return fields, ext


def content_bytes(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value or ""), validate=True)
    except ValueError:
        raise bad_request("contentBytes is not valid base64.") from None
