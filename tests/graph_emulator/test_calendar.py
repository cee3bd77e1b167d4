"""Graph events over the EWS calendar: CRUD, series, calendarView and its delta, time zones,
attendees and meeting responses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.waiting import eventually

from .conftest import Tenant
from .test_delta import sync
from .test_mail import error_of, ok, url

pytestmark = pytest.mark.e2e
PACIFIC = {"Prefer": 'outlook.timezone="Pacific Standard Time"'}


def window(days: int = 14) -> str:
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + dt.timedelta(days=days)
    return f"startDateTime={start:%Y-%m-%dT%H:%M:%SZ}&endDateTime={end:%Y-%m-%dT%H:%M:%SZ}"


def tomorrow(hour: int) -> str:
    day = dt.date.today() + dt.timedelta(days=1)
    return f"{day.isoformat()}T{hour:02d}:00:00"


def test_event_crud_with_time_zones(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    created = ok(
        graph.post(
            url(tenant, email, "events"),
            json={
                "subject": "Review",
                "start": {"dateTime": tomorrow(9), "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": tomorrow(10), "timeZone": "W. Europe Standard Time"},
                "location": {"displayName": "Room 1"},
            },
        ),
        201,
    )
    assert created["type"] == "singleInstance" and created["isOrganizer"] is True
    assert created["originalStartTimeZone"] == "W. Europe Standard Time"
    assert created["start"]["timeZone"] == "UTC"
    pacific = ok(graph.get(url(tenant, email, f"events/{created['id']}"), headers=PACIFIC))
    assert pacific["start"]["timeZone"] == "Pacific Standard Time"
    utc_hour = int(created["start"]["dateTime"][11:13])
    assert (
        int(pacific["start"]["dateTime"][11:13]) == (utc_hour - 8) % 24
        or int(pacific["start"]["dateTime"][11:13]) == (utc_hour - 7) % 24
    )
    moved = ok(
        graph.patch(
            url(tenant, email, f"events/{created['id']}"),
            json={"subject": "Review (moved)", "isAllDay": False},
        )
    )
    assert moved["subject"] == "Review (moved)"
    items = tenant.control.items(email, "calendar")
    assert [i["subject"] for i in items] == ["Review (moved)"]
    ok(graph.delete(url(tenant, email, f"events/{created['id']}")), 204)
    assert tenant.control.items(email, "calendar") == []
    missing_window = graph.get(url(tenant, email, "calendarView"))
    assert error_of(missing_window) == (400, "ErrorInvalidParameter")


def test_series_occurrences_exceptions_and_view_delta(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    start_day = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    series = ok(
        graph.post(
            url(tenant, email, "events"),
            json={
                "subject": "Standup",
                "start": {"dateTime": tomorrow(8), "timeZone": "UTC"},
                "end": {"dateTime": tomorrow(8).replace(":00:00", ":15:00"), "timeZone": "UTC"},
                "recurrence": {
                    "pattern": {"type": "daily", "interval": 1},
                    "range": {"type": "numbered", "startDate": start_day, "numberOfOccurrences": 5},
                },
            },
        ),
        201,
    )
    assert series["type"] == "seriesMaster"
    assert series["recurrence"]["range"]["numberOfOccurrences"] == 5
    view = ok(graph.get(url(tenant, email, f"calendarView?{window()}&$top=50")))["value"]
    assert [e["type"] for e in view] == ["occurrence"] * 5
    assert {e["seriesMasterId"] for e in view} == {series["id"]}
    changes, delta, pages = sync(
        graph, url(tenant, email, f"calendarView/delta?{window()}"), page=2
    )
    assert (len(changes), pages) == (5, 3)
    second, third = changes[1], changes[2]
    exception = ok(
        graph.patch(
            url(tenant, email, f"events/{second['id']}"), json={"subject": "Standup (demo)"}
        )
    )
    assert exception["type"] == "exception"
    ok(graph.delete(url(tenant, email, f"events/{third['id']}")), 204)
    changes, delta, _ = sync(graph, delta)
    by_id = {c["id"]: c for c in changes}
    assert by_id[second["id"]]["subject"] == "Standup (demo)"
    assert by_id[third["id"]]["@removed"] == {"reason": "deleted"}
    instances = ok(graph.get(url(tenant, email, f"events/{series['id']}/instances?{window()}")))[
        "value"
    ]
    assert sorted(e["type"] for e in instances) == [
        "exception",
        "occurrence",
        "occurrence",
        "occurrence",
    ]
    again, _, _ = sync(graph, delta)
    assert again == []


def test_invitation_and_responses_reach_the_organizer(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    organizer, attendee = new_mailbox(), new_mailbox()
    meeting = ok(
        graph.post(
            url(tenant, organizer, "events"),
            json={
                "subject": "Kick-off",
                "start": {"dateTime": tomorrow(14), "timeZone": "UTC"},
                "end": {"dateTime": tomorrow(15), "timeZone": "UTC"},
                "attendees": [{"type": "required", "emailAddress": {"address": attendee}}],
            },
        ),
        201,
    )
    assert meeting["attendees"][0]["emailAddress"]["address"] == attendee
    [invited] = eventually(
        lambda: ok(graph.get(url(tenant, attendee, f"calendarView?{window()}")))["value"],
        "the invitation in the attendee's calendar",
    )
    assert invited["subject"] == "Kick-off" and invited["isOrganizer"] is False
    ok(
        graph.post(
            url(tenant, attendee, f"events/{invited['id']}/accept"), json={"sendResponse": True}
        ),
        202,
    )
    again = ok(graph.get(url(tenant, organizer, f"events/{meeting['id']}")))
    assert again["attendees"][0]["status"]["response"] == "accepted"
    mine = ok(graph.get(url(tenant, attendee, f"events/{invited['id']}")))
    assert mine["responseStatus"]["response"] == "accepted"
    own = graph.post(url(tenant, organizer, f"events/{meeting['id']}/accept"), json={})
    assert error_of(own) == (400, "ErrorInvalidRequest")


def test_view_delta_pages_show_changes_made_during_the_round(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    """A round's later pages carry the events as they are when the page is read (an edit
    made after the first page, a removal), each page its own events once."""
    email = new_mailbox()
    created = [
        ok(
            graph.post(
                url(tenant, email, "events"),
                json={
                    "subject": f"Call {hour}",
                    "start": {"dateTime": tomorrow(hour), "timeZone": "UTC"},
                    "end": {"dateTime": tomorrow(hour + 1), "timeZone": "UTC"},
                },
            ),
            201,
        )
        for hour in (8, 10, 12, 14)
    ]
    headers = {"Prefer": f"{PACIFIC['Prefer']}, odata.maxpagesize=2"}
    first = graph.get(url(tenant, email, f"calendarView/delta?{window()}"), headers=headers)
    assert ok(first)["value"] and "@odata.nextLink" in first.json()
    assert first.headers["Preference-Applied"].count("outlook.timezone") == 1
    shown = {e["id"] for e in first.json()["value"]}
    later = [e for e in created if e["id"] not in shown]
    ok(
        graph.patch(
            url(tenant, email, f"events/{later[0]['id']}"), json={"subject": "Call (moved)"}
        )
    )
    ok(graph.delete(url(tenant, email, f"events/{later[1]['id']}")), 204)
    second = ok(graph.get(first.json()["@odata.nextLink"], headers=headers))
    by_id = {e["id"]: e for e in second["value"]}
    assert by_id[later[0]["id"]]["subject"] == "Call (moved)"
    assert by_id[later[0]["id"]]["start"]["timeZone"] == "Pacific Standard Time"
    assert by_id[later[1]["id"]]["@removed"] == {"reason": "deleted"}
    # The round's snapshot is the one its first page took: the next round gives both again.
    changes, delta, _ = sync(graph, second["@odata.deltaLink"])
    assert sorted(c["id"] for c in changes) == sorted(e["id"] for e in later[:2])
    changes, delta, _ = sync(graph, delta)
    assert changes == []
    ok(graph.patch(url(tenant, email, f"events/{later[0]['id']}"), json={"subject": "Call"}))
    changes, _, _ = sync(graph, delta)
    assert [(c["id"], c["subject"]) for c in changes] == [(later[0]["id"], "Call")]


def test_series_masters_listed_by_type_filter(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    """`events?$filter=type eq 'seriesMaster'` answers the series masters only (a single
    event whose text names the type is not one)."""
    email = new_mailbox()
    single: dict[str, Any] = {
        "subject": "RecurringMaster seriesMaster",
        "start": {"dateTime": tomorrow(9), "timeZone": "UTC"},
        "end": {"dateTime": tomorrow(10), "timeZone": "UTC"},
    }
    ok(graph.post(url(tenant, email, "events"), json=single), 201)
    start_day = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    series = ok(
        graph.post(
            url(tenant, email, "events"),
            json={
                **single,
                "subject": "Weekly",
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {"type": "numbered", "startDate": start_day, "numberOfOccurrences": 3},
                },
            },
        ),
        201,
    )
    listed = ok(
        graph.get(
            url(tenant, email, "events"),
            params={"$filter": "type eq 'seriesMaster'", "$select": "id,changeKey"},
        )
    )["value"]
    assert [(e["id"], e["changeKey"]) for e in listed] == [(series["id"], series["changeKey"])]
    singles = ok(
        graph.get(url(tenant, email, "events"), params={"$filter": "type eq 'singleInstance'"})
    )["value"]
    assert [e["subject"] for e in singles] == [single["subject"]]
