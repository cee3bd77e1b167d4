"""Appointments over Graph: a calendarView delta over a rolling window, plus the series
masters.

calendarView/delta answers instances (single events, occurrences, exceptions), never a
series master, and no extended properties. So:

- single events come from the delta, their stamps from one listing of the calendar's
  stamps (a read from the start) or a `$batch` of the page's events;
- series masters are listed with their change keys (`events?$filter=type eq
  'seriesMaster'`) when a read starts and whenever a delta page touches an occurrence or
  removes anything; a master whose change key moved is read whole with its instances over
  its range (exceptions by `originalStart`; cancelled occurrences are the pattern's
  occurrences no instance answers for), and a master gone from the list is deleted. The
  masters' change keys travel in the cursor.
- the window is [now - 2 years, now + 3 years] when a read starts; once its end is less
  than two and a half years ahead, the next cycle drains the old delta and opens a new
  window whose events are all reported as changed (the engine finds them unchanged by
  change key), so events do not fall off the end of the window.

An event moved out of the window is removed from the delta: the engine then looks for its
stamp in the calendar (`find_stamped` searches the whole calendar, not the window) and
keeps the mapping.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from mailboxes.connectors import SyncError
from mailboxes.connectors.base import (
    ChangePage,
    CursorLostError,
    DeleteMode,
    ItemChange,
    NewItem,
    RemoteItem,
    Result,
)
from mailboxes.connectors.graph.act import (
    LISTING_THRESHOLD,
    GraphItemConnector,
    change_key_of,
    expand,
    raise_transient,
    result_of,
    seam_error,
    skipped,
    utc_now,
)
from mailboxes.connectors.graph.client import BatchRequest
from mailboxes.connectors.graph.converters.common import Json, parse_offset, stamp_of
from mailboxes.connectors.graph.converters.events import (
    GraphEventConverter,
    series_details,
    series_window,
)
from mailboxes.connectors.graph.errors import DeltaTokenLost

WINDOW_BEFORE = dt.timedelta(days=730)
WINDOW_AFTER = dt.timedelta(days=3 * 365)
# A window whose end comes closer than this is replaced by a new one.
WINDOW_RENEW = dt.timedelta(days=913)
SERIES_FILTER = "type eq 'seriesMaster'"
# Instances per calendarView delta page.
CALENDAR_PAGE = 200


class GraphCalendarConnector(GraphItemConnector):
    """Appointments of the default calendar."""

    converter: GraphEventConverter

    def collection(self, folder_id: str) -> str:
        return "events"

    def item_path(self, item_id: str) -> str:
        return f"events/{item_id}"

    # -- reading -------------------------------------------------------------------------

    def changes(
        self,
        folder_id: str,
        cursor: str | None,
        *,
        skip: Mapping[str, str] | None = None,
        stamps: bool = True,
    ) -> Iterator[ChangePage]:
        state = _State.load(cursor)
        now = utc_now()
        if state is not None and state.end - now < WINDOW_RENEW:
            # Drain the old window, then open a new one reported as changed throughout.
            yield from self._round(folder_id, state, skip, last=False, stamps=stamps)
            state = _State.open(now, state.masters)
        elif state is None:
            state = _State.open(now, None)
        yield from self._round(folder_id, state, skip, last=True, stamps=stamps)

    def _round(
        self,
        folder_id: str,
        state: _State,
        skip: Mapping[str, str] | None,
        *,
        last: bool,
        stamps: bool,
    ) -> Iterator[ChangePage]:
        start = not state.link
        link = state.link or "calendarView/delta"
        params = None
        if start:
            params = {"startDateTime": _iso(state.start), "endDateTime": _iso(state.end)}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="graph-calendar") as pool:
            # What a read from the start lists (the stamps, when needed) and the series
            # masters of a new cursor download while the first page does.
            listing = pool.submit(self.first_listing, folder_id, True, stamps) if start else None
            series = None
            if state.masters is None:
                series = pool.submit(self._series, folder_id, state, skip)
            known = None if listing else self.first_listing(folder_id, False, stamps)
            yield from self._round_pages(
                folder_id, state, skip, link, params, known, listing, series, last=last
            )

    def _round_pages(
        self,
        folder_id: str,
        state: _State,
        skip: Mapping[str, str] | None,
        link: str,
        params: dict[str, str] | None,
        known: dict[str, Json] | None,
        listing: Future[dict[str, Json] | None] | None,
        series: Future[tuple[list[RemoteItem], list[str]]] | None,
        *,
        last: bool,
    ) -> Iterator[ChangePage]:
        try:
            for page in self.client.delta(link, params=params, page_size=CALENDAR_PAGE):
                if listing is not None:
                    known, listing = listing.result(), None
                singles = [i for i in page.items if i.get("type") == "singleInstance"]
                singles = [i for i in singles if not skipped(i, skip)]
                if known is None and len(singles) > LISTING_THRESHOLD:
                    known = self._listed(folder_id)
                singles = self.with_properties(folder_id, singles, known)
                changed = [self.remote(i, folder_id) for i in singles]
                deleted = list(page.removed)
                touched = bool(page.removed) or any(
                    i.get("type") in ("occurrence", "exception") for i in page.items
                )
                if series is not None or touched:
                    if series is not None:
                        masters, gone = series.result()
                        series = None
                    else:
                        masters, gone = self._series(folder_id, state, skip)
                    changed += masters
                    deleted += gone
                state.link = page.delta_link or page.next_link or ""
                done = page.delta_link is not None
                yield ChangePage(
                    changed=tuple(changed),
                    deleted=tuple(deleted),
                    cursor=state.dump(),
                    complete=done and last,
                )
        except DeltaTokenLost as exc:
            raise CursorLostError(str(exc), code=exc.code) from exc

    def _series(
        self, folder_id: str, state: _State, skip: Mapping[str, str] | None
    ) -> tuple[list[RemoteItem], list[str]]:
        """Series masters whose change key moved since the cursor's (read whole with their
        instances), and the ids of masters gone."""
        params = {
            "$filter": SERIES_FILTER,
            "$select": "id,changeKey",
            "$top": str(1000),
        }
        listed = {
            str(m["id"]): change_key_of(m) for m in self.client.items("events", params=params)
        }
        known = state.masters or {}
        wanted = [
            i for i, key in listed.items() if known.get(i) != key and (skip or {}).get(i) != key
        ]
        gone = [i for i in known if i not in listed]
        state.masters = listed
        return self._read_masters(folder_id, wanted), gone

    def _read_masters(self, folder_id: str, ids: Sequence[str]) -> list[RemoteItem]:
        if not ids:
            return []
        select = ",".join(self.converter.select)
        query = f"?$select={select}&$expand={quote(expand(self.properties))}"
        answers = self.client.batch(
            [BatchRequest(str(n), "GET", f"events/{i}{query}") for n, i in enumerate(ids)]
        )
        result = []
        now = utc_now()
        for item_id, answer in zip(ids, answers, strict=True):
            if answer.status == 404:
                continue  # deleted meanwhile: gone from the next listing
            error = self.client.error_of(answer, f"events/{item_id}")
            if error is not None:
                raise error
            master: Json = answer.body
            window = series_window(master, now)
            instances: list[Json] = []
            if window is not None:
                params = {
                    "startDateTime": _iso(window[0]),
                    "endDateTime": _iso(window[1]),
                    "$select": ",".join(self.converter.instance_select),
                    "$top": "1000",
                }
                instances = list(self.client.items(f"events/{item_id}/instances", params=params))
            exceptions, deleted = series_details(master, instances, window[1] if window else now)
            canonical = self.converter.canonical(
                master, exceptions=exceptions, deleted_starts=deleted
            )
            result.append(self._remote_event(master, canonical, folder_id))
        return result

    def remote(self, resource: Json, folder_id: str) -> RemoteItem:
        return self._remote_event(resource, self.converter.canonical(resource), folder_id)

    def _remote_event(self, event: Json, canonical: dict[str, Any], folder_id: str) -> RemoteItem:
        return RemoteItem(
            id=str(event["id"]),
            change_key=change_key_of(event),
            canonical=canonical,
            folder_id=folder_id,
            record_id=stamp_of(event),
            ical_uid=str(event.get("iCalUId") or ""),
            modified_at=parse_offset(event.get("lastModifiedDateTime")),
            sent=event.get("isDraft") is False and bool(event.get("attendees")),
        )

    # -- writing -------------------------------------------------------------------------

    def create(self, folder_id: str, items: Sequence[NewItem], *, notify: bool) -> list[Result]:
        """Graph sends a meeting to its attendees when it is created; without `notify` it is
        created as a draft (`isDraft`): its attendees are in it, nobody is sent anything,
        and its later changes send nothing either (the README's invitation rule)."""
        bodies = []
        for n, new in enumerate(items):
            body = self.converter.payload(new.canonical, record_id=new.record_id)
            if new.ical_uid:
                # Graph makes the iCalUId itself; the transaction id keeps a retry after a
                # crash from creating the event twice.
                body["transactionId"] = new.ical_uid[:100]
            if body["attendees"] and not notify:
                body["isDraft"] = True
            bodies.append(BatchRequest(str(n), "POST", "calendar/events", body=body))
        answers = self.client.batch(bodies)
        results = [result_of(self.client, a, "calendar/events") for a in answers]
        raise_transient(results)
        return results

    def update(self, changes: Sequence[ItemChange], *, notify: bool) -> list[Result]:
        """A PATCH of a draft sends nothing; of a meeting its attendees were sent, Graph
        updates them whatever `notify` says (Graph has no SendToNone)."""
        return super().update(changes, notify=notify)

    def delete(
        self, ids: Sequence[str], *, mode: DeleteMode, notify: bool
    ) -> list[SyncError | None]:
        """With `notify`, the meetings are cancelled (`cancel`: the attendees are sent a
        cancellation, the event goes to Deleted Items whatever `mode`); without, deleted as
        `mode` says: a draft silently, a meeting already sent with Graph's cancellation."""
        if not notify:
            return super().delete(ids, mode=mode, notify=False)
        answers = self.client.batch(
            [BatchRequest(str(n), "POST", f"events/{i}/cancel", body={}) for n, i in enumerate(ids)]
        )
        results: list[SyncError | None] = []
        for item_id, answer in zip(ids, answers, strict=True):
            error = self.client.error_of(answer, f"events/{item_id}")
            results.append(None if error is None else seam_error(error))
        raise_transient(results)
        return results

    def write_exceptions(
        self,
        folder_id: str,
        series_id: str,
        canonical: dict[str, Any],
        *,
        mode: DeleteMode,
        notify: bool,
    ) -> None:
        """Make the series' exceptions those of `canonical`: PATCH each occurrence found by
        its original start whose fields differ, DELETE the cancelled ones. An occurrence
        Graph no longer lists (deleted already, or outside the series) is skipped."""
        master = self.client.get(
            f"events/{series_id}", params={"$select": ",".join(self.converter.select)}
        )
        window = series_window(master, utc_now())
        if window is None:
            return
        params = {
            "startDateTime": _iso(window[0]),
            "endDateTime": _iso(window[1]),
            "$select": ",".join(self.converter.instance_select),
            "$top": "1000",
        }
        by_start: dict[str, Json] = {}
        for instance in self.client.items(f"events/{series_id}/instances", params=params):
            start = parse_offset(instance.get("originalStart"))
            if start is not None:
                by_start[start.astimezone(dt.UTC).isoformat()] = instance
        requests: list[BatchRequest] = []
        tz_name = canonical.get("time_zone") or "UTC"
        for wanted in canonical["modified_occurrences"]:
            found = by_start.get(str(wanted["original_start"]))
            if found is None:
                continue
            instance = found
            current = self.converter.canonical(
                {**master, "type": "seriesMaster"}, exceptions=[{**instance, "type": "exception"}]
            )["modified_occurrences"]
            if current and current[0] == wanted:
                continue
            body = self.converter.occurrence_payload(wanted, tz_name)
            requests.append(
                BatchRequest(str(len(requests)), "PATCH", f"events/{instance['id']}", body=body)
            )
        for start in canonical["deleted_occurrences"]:
            cancelled = by_start.get(str(start))
            if cancelled is not None:
                requests.append(
                    BatchRequest(str(len(requests)), "DELETE", f"events/{cancelled['id']}")
                )
        results = [result_of(self.client, a, "events") for a in self.client.batch(requests)]
        raise_transient(results)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _State:
    """What the calendar's cursor holds: the window, the delta link, the masters' keys."""

    def __init__(
        self, start: dt.datetime, end: dt.datetime, link: str, masters: dict[str, str] | None
    ) -> None:
        self.start, self.end, self.link, self.masters = start, end, link, masters

    @classmethod
    def open(cls, now: dt.datetime, masters: dict[str, str] | None) -> _State:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(day - WINDOW_BEFORE, day + WINDOW_AFTER, "", masters)

    @classmethod
    def load(cls, cursor: str | None) -> _State | None:
        if not cursor:
            return None
        try:
            data = json.loads(cursor)
            return cls(
                dt.datetime.fromisoformat(data["start"]),
                dt.datetime.fromisoformat(data["end"]),
                str(data["link"]),
                {str(k): str(v) for k, v in data["masters"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CursorLostError(
                "The calendar's stored cursor is not one of ours.", code="cursor_unreadable"
            ) from exc

    def dump(self) -> str:
        return json.dumps(
            {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "link": self.link,
                "masters": self.masters or {},
            },
            separators=(",", ":"),
        )
