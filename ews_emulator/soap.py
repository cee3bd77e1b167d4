"""SOAP envelopes, EWS namespaces, error answers and small XML/date helpers."""

from __future__ import annotations

import base64
import datetime as dt
import os
import threading
from typing import Any, TypeAlias

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
E_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP_NS, "t": T_NS, "m": M_NS}
T_NSMAP = {"t": T_NS}

# The build we claim to be: Exchange 2016 CU-something.
SERVER_BUILD = (15, 1, 2507, 6)
SUPPORTED_VERSIONS = (
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
)
DEFAULT_VERSION = "Exchange2016"

# lxml ships no type stubs; elements are typed loosely.
Element: TypeAlias = Any


_parsers = threading.local()


def parse_xml(xml: str | bytes, parser: Any = None) -> Element:
    """XML of a request or a stored item, with lxml's huge_tree: a message's base64 MIME is
    one text node, which lxml refuses above 10 MB by default (a message of about 7 MB). One
    parser per thread (lxml parsers are not shared between threads); no entities, no
    network."""
    if parser is None:
        parser = getattr(_parsers, "parser", None)
        if parser is None:
            parser = etree.XMLParser(resolve_entities=False, huge_tree=True, no_network=True)
            _parsers.parser = parser
    return etree.fromstring(xml, parser)


def t(tag: str) -> str:
    """Clark name of a tag in the EWS types namespace."""
    return f"{{{T_NS}}}{tag}"


def m(tag: str) -> str:
    """Clark name of a tag in the EWS messages namespace."""
    return f"{{{M_NS}}}{tag}"


def local(tag: Any) -> str:
    """Local name of a Clark tag (comments and PIs give an empty string)."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def sub(parent: Element, tag: str, text: str | None = None, **attrs: str) -> Element:
    elem = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        elem.text = text
    return elem


def new(tag: str, text: str | None = None, **attrs: str) -> Element:
    elem = etree.Element(tag, {k: v for k, v in attrs.items() if v is not None}, nsmap=T_NSMAP)
    if text is not None:
        elem.text = text
    return elem


def child(elem: Element | None, name: str) -> Element | None:
    """First child of `elem` named `name` in the EWS types or messages namespace."""
    if elem is None:
        return None
    found = elem.find(f"{{{T_NS}}}{name}")
    if found is None:
        found = elem.find(f"{{{M_NS}}}{name}")
    return found


def children(elem: Element | None, name: str) -> list[Element]:
    """Children of `elem` named `name` in the EWS types or messages namespace."""
    if elem is None:
        return []
    return elem.findall(f"{{{T_NS}}}{name}") + elem.findall(f"{{{M_NS}}}{name}")


def text_of(elem: Element | None, name: str, default: str | None = None) -> str | None:
    c = child(elem, name)
    if c is None or c.text is None:
        return default
    return c.text


def new_id(prefix: bytes = b"") -> str:
    """An opaque identifier in the style of Exchange ids (base64 of random bytes)."""
    return base64.b64encode(prefix + os.urandom(33 - len(prefix))).decode()


def new_change_key() -> str:
    return base64.b64encode(b"\x16\x00\x00\x00" + os.urandom(14)).decode()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def fmt_dt(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(value: str | None) -> dt.datetime | None:
    """Parse an xs:dateTime (or xs:date) as EWS sends it; naive values are taken as UTC."""
    if not value:
        return None
    value = value.strip()
    try:
        if len(value) == 10:
            return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        if value.endswith("Z"):
            value = value[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def norm_dt(value: str | None) -> str | None:
    """An xs:dateTime normalised to UTC (`...Z`), or None when it does not parse."""
    parsed = parse_dt(value)
    return fmt_dt(parsed) if parsed else None


class EwsError(Exception):
    """An EWS error answered in a response message (ResponseClass="Error")."""

    def __init__(self, code: str, text: str = "", values: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text or code
        self.values = values or {}


class SoapFault(Exception):
    """An error answered as a SOAP fault (the whole request fails)."""

    def __init__(self, code: str, text: str, values: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
        self.values = values or {}


def version_header(header: Element, version: str) -> None:
    major, minor, build, rev = SERVER_BUILD
    etree.SubElement(
        header,
        t("ServerVersionInfo"),
        {
            "MajorVersion": str(major),
            "MinorVersion": str(minor),
            "MajorBuildNumber": str(build),
            "MinorBuildNumber": str(rev),
            "Version": version,
        },
    )


def envelope(body_child: Element, version: str) -> bytes:
    env = etree.Element(etree.QName(SOAP_NS, "Envelope"), nsmap=NSMAP)
    header = etree.SubElement(env, etree.QName(SOAP_NS, "Header"))
    version_header(header, version)
    body = etree.SubElement(env, etree.QName(SOAP_NS, "Body"))
    body.append(body_child)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_envelope(fault: SoapFault, version: str) -> bytes:
    env = etree.Element(etree.QName(SOAP_NS, "Envelope"), nsmap=NSMAP)
    header = etree.SubElement(env, etree.QName(SOAP_NS, "Header"))
    version_header(header, version)
    body = etree.SubElement(env, etree.QName(SOAP_NS, "Body"))
    f = etree.SubElement(body, etree.QName(SOAP_NS, "Fault"))
    code = etree.SubElement(f, "faultcode", nsmap={"a": E_NS})
    code.text = f"a:{fault.code}"
    etree.SubElement(f, "faultstring").text = fault.text
    detail = etree.SubElement(f, "detail")
    etree.SubElement(detail, f"{{{E_NS}}}ResponseCode", nsmap={"e": E_NS}).text = fault.code
    etree.SubElement(detail, f"{{{E_NS}}}Message", nsmap={"e": E_NS}).text = fault.text
    if fault.values:
        msg_xml = etree.SubElement(detail, t("MessageXml"))
        for name, value in fault.values.items():
            sub(msg_xml, t("Value"), value, Name=name)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def response_message(
    container: Element, op: str, error: EwsError | None = None, *, warning: bool = False
) -> Element:
    """Append an `<m:{op}ResponseMessage>` to `container` with its class and code."""
    if error is None:
        msg = sub(container, m(f"{op}ResponseMessage"), ResponseClass="Success")
        sub(msg, m("ResponseCode"), "NoError")
        return msg
    msg = sub(container, m(f"{op}ResponseMessage"), ResponseClass="Warning" if warning else "Error")
    sub(msg, m("MessageText"), error.text)
    sub(msg, m("ResponseCode"), error.code)
    sub(msg, m("DescriptiveLinkKey"), "0")
    if error.values:
        msg_xml = sub(msg, m("MessageXml"))
        for name, value in error.values.items():
            sub(msg_xml, t("Value"), value, Name=name)
    return msg


def bool_text(value: bool) -> str:
    return "true" if value else "false"


def parse_bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")
