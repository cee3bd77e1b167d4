"""FindItem/FindFolder restrictions and sort orders, evaluated on stored item elements."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from .items import element_for_uri, ext_key
from .soap import Element, EwsError, child, children, local, parse_dt, text_of

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
MAILBOX_HOLDERS = ("From", "Sender", "Organizer", "ReceivedBy", "ReceivedRepresenting")
MAILBOX_LISTS = ("ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo")
ATTENDEE_LISTS = ("RequiredAttendees", "OptionalAttendees", "Resources")
Predicate = Callable[[Element], bool]


def values_of(elem: Element, path: Element) -> list[str]:
    """Every string value the property path designates on an item (empty when unset)."""
    kind = local(path.tag)
    if kind == "ExtendedFieldURI":
        key = ext_key(path)
        out: list[str] = []
        for prop in children(elem, "ExtendedProperty"):
            uri = child(prop, "ExtendedFieldURI")
            if uri is not None and ext_key(uri) == key:
                value = text_of(prop, "Value")
                if value is not None:
                    out.append(value)
                values = child(prop, "Values")
                out.extend(v.text or "" for v in children(values, "Value"))
        return out
    uri = path.get("FieldURI", "")
    name = element_for_uri(uri)
    if kind == "IndexedFieldURI":
        index = path.get("FieldIndex", "")
        holder = child(elem, name)
        found: list[str] = []
        for entry in children(holder, "Entry"):
            if entry.get("Key") != index:
                continue
            if uri.startswith("contacts:PhysicalAddress:"):
                part = text_of(entry, uri.rpartition(":")[2])
                if part is not None:
                    found.append(part)
            elif entry.text is not None:
                found.append(entry.text)
        return found
    if name in ("ItemId", "FolderId", "ParentFolderId", "ConversationId"):
        target = child(elem, name)
        return [target.get("Id", "")] if target is not None else []
    target = child(elem, name)
    if target is None:
        return []
    if name in MAILBOX_HOLDERS:
        mb = child(target, "Mailbox")
        return [v for v in (text_of(mb, "EmailAddress"), text_of(mb, "Name")) if v]
    if name in MAILBOX_LISTS:
        out = []
        for mb in children(target, "Mailbox"):
            out.extend(v for v in (text_of(mb, "EmailAddress"), text_of(mb, "Name")) if v)
        return out
    if name in ATTENDEE_LISTS:
        out = []
        for att in children(target, "Attendee"):
            mb = child(att, "Mailbox")
            out.extend(v for v in (text_of(mb, "EmailAddress"), text_of(mb, "Name")) if v)
        return out
    if len(target):
        return [c.text or "" for c in target]
    return [target.text or ""]


def typed(value: str, like: str | None = None) -> Any:
    """Comparable form of a property value: datetimes, numbers, booleans, else folded text."""
    probe = like if like is not None else value
    if ISO_DATE.match(probe):
        parsed = parse_dt(value)
        if parsed is not None:
            return (0, parsed)
    lowered = probe.strip().lower()
    if lowered in ("true", "false"):
        return (1, value.strip().lower() == "true")
    try:
        float(probe)
        return (2, float(value))
    except ValueError:
        pass
    return (3, value.casefold())


def _operands(node: Element) -> tuple[Element, str | None, Element | None]:
    path = node[0]
    other = child(node, "FieldURIOrConstant")
    if other is None or not len(other):
        return path, None, None
    operand = other[0]
    if local(operand.tag) == "Constant":
        return path, operand.get("Value", ""), None
    return path, None, operand


def _compare(op: str, left: Any, right: Any) -> bool:
    try:
        if op == "IsEqualTo":
            return bool(left == right)
        if op == "IsNotEqualTo":
            return bool(left != right)
        if op == "IsGreaterThan":
            return bool(left > right)
        if op == "IsGreaterThanOrEqualTo":
            return bool(left >= right)
        if op == "IsLessThan":
            return bool(left < right)
        if op == "IsLessThanOrEqualTo":
            return bool(left <= right)
    except TypeError:
        return False
    raise EwsError("ErrorInvalidRestriction", f"Unsupported comparison {op}")


COMPARISONS = (
    "IsEqualTo",
    "IsNotEqualTo",
    "IsGreaterThan",
    "IsGreaterThanOrEqualTo",
    "IsLessThan",
    "IsLessThanOrEqualTo",
)


def compile_restriction(node: Element) -> Predicate:
    """A predicate over item elements for a `<t:...>` search expression."""
    op = local(node.tag)
    if op == "Restriction":
        if not len(node):
            return lambda e: True
        return compile_restriction(node[0])
    if op == "And":
        parts = [compile_restriction(c) for c in node]
        return lambda e: all(p(e) for p in parts)
    if op == "Or":
        parts = [compile_restriction(c) for c in node]
        return lambda e: any(p(e) for p in parts)
    if op == "Not":
        inner = compile_restriction(node[0])
        return lambda e: not inner(e)
    if op == "Exists":
        path = node[0]
        return lambda e: bool(values_of(e, path))
    if op in COMPARISONS:
        path, constant, other_path = _operands(node)

        def compare(e: Element) -> bool:
            left_values = values_of(e, path)
            right_values = values_of(e, other_path) if other_path is not None else [constant or ""]
            if not left_values:
                return op == "IsNotEqualTo"
            for left in left_values:
                for right in right_values:
                    if right in ("0", "1") and left.lower() in ("true", "false"):
                        right = "true" if right == "1" else "false"
                    if _compare(op, typed(left, right), typed(right)):
                        return True
            return False

        return compare
    if op == "Contains":
        path = node[0]
        constant = child(node, "Constant")
        needle = constant.get("Value", "") if constant is not None else ""
        mode = node.get("ContainmentMode", "Substring")
        comparison = node.get("ContainmentComparison", "Exact")
        ignore_case = comparison != "Exact"
        if ignore_case:
            needle = needle.casefold()

        def contains(e: Element) -> bool:
            for value in values_of(e, path):
                hay = value.casefold() if ignore_case else value
                if mode == "FullString" and hay == needle:
                    return True
                if mode == "Prefixed" and hay.startswith(needle):
                    return True
                if mode in ("Substring", "ExactPhrase") and needle in hay:
                    return True
                if mode == "PrefixOnWords" and any(w.startswith(needle) for w in hay.split()):
                    return True
            return False

        return contains
    if op == "Excludes":
        path = node[0]
        bitmask = child(node, "Bitmask")
        mask = int(bitmask.get("Value", "0"), 0) if bitmask is not None else 0

        def excludes(e: Element) -> bool:
            for value in values_of(e, path):
                try:
                    if int(value, 0) & mask:
                        return False
                except ValueError:
                    continue
            return True

        return excludes
    raise EwsError("ErrorInvalidRestriction", f"Unsupported restriction {op}")


def sort_key_for(path: Element) -> Callable[[Element], Any]:
    def key(e: Element) -> Any:
        values = values_of(e, path)
        if not values:
            return (0, 0, "")
        value = typed(values[0])
        return (1, value[0], value[1])

    return key


def sort_elements(elems: list[Element], sort_order: Element | None) -> list[Element]:
    if sort_order is None:
        return elems
    for field_order in reversed(children(sort_order, "FieldOrder")):
        if not len(field_order):
            continue
        key = sort_key_for(field_order[0])
        reverse = field_order.get("Order", "Ascending") == "Descending"
        elems = sorted(elems, key=key, reverse=reverse)
    return elems


def in_window(elem: Element, start: dt.datetime, end: dt.datetime) -> bool:
    s, e = parse_dt(text_of(elem, "Start")), parse_dt(text_of(elem, "End"))
    if s is None:
        return False
    e = e or s
    # Exchange's CalendarView also returns an item that ends exactly where the view starts.
    return s < end and e >= start
