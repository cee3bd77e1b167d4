"""FindItem (paging, restrictions, sorting, calendar views) and SyncFolderItems."""

from __future__ import annotations

from lxml import etree

from .. import items as itm
from .. import recurrence as rec
from ..aqs import compile_query
from ..restrictions import Predicate, compile_restriction, in_window, sort_elements
from ..soap import (
    Element,
    EwsError,
    child,
    m,
    parse_dt,
    parse_xml,
    response_message,
    sub,
    t,
    text_of,
)
from ..store import Folder
from ..syncstate import decode_state, encode_state
from .base import Ctx, folder_from_holder, id_elements, operation, resolve_folder, response_root
from .calendar import exceptions_of

MAX_SYNC_CHANGES = 512


def _calendar_view(ctx: Ctx, folder: Folder, view: Element) -> list[Element]:
    start = parse_dt(view.get("StartDate"))
    end = parse_dt(view.get("EndDate"))
    if start is None or end is None or end < start:
        raise EwsError("ErrorCalendarInvalidDateRange", "The start date is after the end date.")
    out: list[Element] = []
    for row in ctx.store.items_in_folder(folder.id):
        if row.kind != "CalendarItem":
            continue
        elem = parse_xml(row.xml)
        if text_of(elem, "CalendarItemType") == "RecurringMaster":
            for index, occ_start, occ_end in rec.window_occurrences(
                elem, start, end, touching=True
            ):
                out.append(rec.occurrence_element(elem, index, occ_start, occ_end))
            for exc in exceptions_of(ctx, row):
                exc_elem = parse_xml(exc.xml)
                if in_window(exc_elem, start, end):
                    out.append(exc_elem)
        elif in_window(elem, start, end):
            out.append(elem)
    out.sort(key=lambda e: text_of(e, "Start") or "")
    return out


def _find_in_folder(
    ctx: Ctx, folder: Folder, req: Element, shape: itm.Shape, predicate: Predicate | None
) -> tuple[list[Element], int, int | None, bool]:
    """(page elements, total in view, next offset or None, includes last)."""
    sort_order = child(req, "SortOrder")
    calendar_view = child(req, "CalendarView")
    paged = child(req, "IndexedPageItemView")
    if calendar_view is not None:
        if predicate is not None or sort_order is not None:
            raise EwsError(
                "ErrorInvalidOperation",
                "Restrictions and sort order may not be specified for a CalendarView.",
            )
        elems = _calendar_view(ctx, folder, calendar_view)
        total = len(elems)
        limit = int(calendar_view.get("MaxEntriesReturned", str(total or 1)))
        page = elems[:limit]
        return [shape.render(etree.tostring(e)) for e in page], total, None, len(page) >= total
    rows = ctx.store.items_in_folder(folder.id)
    offset = int(paged.get("Offset", "0")) if paged is not None else 0
    size = int(paged.get("MaxEntriesReturned", "0") or 0) if paged is not None else 0
    from_end = paged is not None and paged.get("BasePoint") == "End"
    if predicate is None and sort_order is None:
        blobs = [r.xml for r in rows]
    else:
        parsed = [(parse_xml(r.xml), r.xml) for r in rows]
        if predicate is not None:
            parsed = [p for p in parsed if predicate(p[0])]
        if sort_order is not None:
            order = sort_elements([p[0] for p in parsed], sort_order)
            by_elem = {id(p[0]): p[1] for p in parsed}
            blobs = [by_elem[id(e)] for e in order]
        else:
            blobs = [p[1] for p in parsed]
    total = len(blobs)
    size = size or total
    start = max(total - offset - size, 0) if from_end else offset
    page = blobs[start : start + size]
    next_offset = start + len(page)
    return [shape.render(b) for b in page], total, next_offset, next_offset >= total


@operation("FindItem")
def find_item(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("FindItem")
    shape = itm.Shape.parse(child(req, "ItemShape"), view=True)
    restriction = child(req, "Restriction")
    query = text_of(req, "QueryString")
    try:
        predicate = compile_restriction(restriction) if restriction is not None else None
        if query and query.strip():
            if predicate is not None:
                # "The QueryString element excludes the use of EWS restrictions."
                raise EwsError(
                    "ErrorInvalidRestriction", "A QueryString cannot be used with a Restriction."
                )
            predicate = compile_query(query)
    except EwsError as e:
        for _ in id_elements(child(req, "ParentFolderIds")):
            response_message(messages, "FindItem", e)
        return root
    for ident in id_elements(child(req, "ParentFolderIds")):
        try:
            folder = resolve_folder(ctx, ident)
            page, total, next_offset, last = _find_in_folder(ctx, folder, req, shape, predicate)
        except EwsError as e:
            response_message(messages, "FindItem", e)
            continue
        msg = response_message(messages, "FindItem")
        attrs = {
            "TotalItemsInView": str(total),
            "IncludesLastItemInRange": "true" if last else "false",
        }
        if next_offset is not None:
            attrs["IndexedPagingOffset"] = str(next_offset)
        holder = sub(msg, m("RootFolder"), **attrs)
        items_el = sub(holder, t("Items"))
        for elem in page:
            items_el.append(elem)
    return root


def _sync_error(messages: Element, error: EwsError) -> None:
    msg = response_message(messages, "SyncFolderItems", error)
    sub(msg, m("SyncState"))
    sub(msg, m("IncludesLastItemInRange"), "true")


@operation("SyncFolderItems")
def sync_folder_items(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("SyncFolderItems")
    try:
        if ctx.forced_error is not None:
            raise ctx.forced_error
        folder = folder_from_holder(ctx, child(req, "SyncFolderId"))
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
        state_text = (text_of(req, "SyncState") or "").strip()
        after = decode_state(ctx.store, state_text, "I", folder.id) if state_text else 0
        limit = int(text_of(req, "MaxChangesReturned", "100") or 100)
        if not 1 <= limit <= MAX_SYNC_CHANGES:
            raise EwsError("ErrorInvalidArgument", "MaxChangesReturned must be between 1 and 512.")
    except EwsError as e:
        _sync_error(messages, e)
        return root
    shape = itm.Shape.parse(child(req, "ItemShape"), view=True)
    ignore = {i.get("Id") for i in id_elements(child(req, "Ignore"))}
    rows = ctx.store.sync_rows(folder.id, after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    new_seq = page[-1][0] if page else after
    msg = response_message(messages, "SyncFolderItems")
    sub(msg, m("SyncState"), encode_state(ctx.store, "I", folder.id, new_seq))
    sub(msg, m("IncludesLastItemInRange"), "false" if more else "true")
    changes = sub(msg, m("Changes"))
    for _seq, kind, item_id, row in page:
        if item_id in ignore:
            continue
        if kind == "gone" or row is None:
            sub(sub(changes, t("Delete")), t("ItemId"), Id=item_id)
        elif row.entered_seq > after:
            sub(changes, t("Create")).append(shape.render(row.xml))
        elif row.content_seq <= after:
            flag = sub(changes, t("ReadFlagChange"))
            sub(flag, t("ItemId"), Id=row.id, ChangeKey=row.change_key)
            sub(flag, t("IsRead"), "true" if row.is_read else "false")
        else:
            sub(changes, t("Update")).append(shape.render(row.xml))
    return root
