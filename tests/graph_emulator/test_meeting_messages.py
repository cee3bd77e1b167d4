"""Meeting messages over Graph, as Microsoft's reference describes them (README "Microsoft
Graph v1.0", events): a meeting created with attendees invites them, unless it is created
as a draft (`isDraft`); a draft's changes send nothing until `isDraft` turns false; a change
of a sent meeting updates every attendee, a change of only its attendees writes to those
added; deleting a sent meeting (DELETE, permanentDelete) or cancelling it cancels it for its
attendees, deleting a draft sends nothing. Counted in the attendees' Inboxes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.waiting import settled

from .conftest import Tenant
from .test_calendar import tomorrow
from .test_mail import error_of, ok, url

pytestmark = pytest.mark.e2e


def inbox(tenant: Tenant, address: str) -> list[tuple[str, str]]:
    """(kind, subject) of what reached the mailbox's Inbox; a request's kind says whether it
    is new or an update (once the emulator delivered what was sent: it delivers a moment
    after the send, as Exchange does)."""
    settled(tenant.control)
    found = []
    for item in tenant.control.items(address, "inbox"):
        kind = item["kind"]
        if kind == "MeetingRequest":
            fields = tenant.control.item(item["id"])["fields"]
            kind = "update" if fields.get("MeetingRequestType") == "FullUpdate" else "request"
        elif kind == "MeetingCancellation":
            kind = "cancellation"
        found.append((kind, item["subject"] or ""))
    return sorted(found)


def meeting(attendees: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "subject": "Review",
        "start": {"dateTime": tomorrow(9), "timeZone": "UTC"},
        "end": {"dateTime": tomorrow(10), "timeZone": "UTC"},
        "attendees": [{"type": "required", "emailAddress": {"address": a}} for a in attendees],
        **extra,
    }


def test_a_meeting_invites_on_creation_and_updates_all_on_change(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    organizer, first, second = new_mailbox(), new_mailbox(), new_mailbox()
    event = ok(graph.post(url(tenant, organizer, "events"), json=meeting([first])), 201)
    assert event["isDraft"] is False
    assert inbox(tenant, first) == [("request", "Review")]

    # a time change reaches every attendee
    path = url(tenant, organizer, f"events/{event['id']}")
    ok(graph.patch(path, json={"start": {"dateTime": tomorrow(11), "timeZone": "UTC"}}))
    assert inbox(tenant, first) == [("request", "Review"), ("update", "Review")]

    # a change of the attendees only writes to the one added
    both = meeting([first, second])["attendees"]
    ok(graph.patch(path, json={"attendees": both}))
    assert inbox(tenant, first) == [("request", "Review"), ("update", "Review")]
    assert inbox(tenant, second) == [("update", "Review")]

    # deleting it cancels it for both
    assert graph.delete(path).status_code == 204
    assert inbox(tenant, second) == [("cancellation", "Canceled: Review"), ("update", "Review")]
    assert ("cancellation", "Canceled: Review") in inbox(tenant, first)


def test_a_draft_sends_nothing_until_it_is_sent(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    organizer, attendee = new_mailbox(), new_mailbox()
    event = ok(
        graph.post(url(tenant, organizer, "events"), json=meeting([attendee], isDraft=True)),
        201,
    )
    assert event["isDraft"] is True and event["attendees"]
    path = url(tenant, organizer, f"events/{event['id']}")
    changed = ok(graph.patch(path, json={"subject": "Review (moved)"}))
    assert changed["isDraft"] is True
    assert inbox(tenant, attendee) == []

    sent = ok(graph.patch(path, json={"isDraft": False}))
    assert sent["isDraft"] is False
    assert inbox(tenant, attendee) == [("request", "Review (moved)")]


def test_deleting_a_draft_cancels_nothing(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    organizer, attendee = new_mailbox(), new_mailbox()
    for delete in ("DELETE", "permanentDelete"):
        event = ok(
            graph.post(url(tenant, organizer, "events"), json=meeting([attendee], isDraft=True)),
            201,
        )
        path = url(tenant, organizer, f"events/{event['id']}")
        if delete == "DELETE":
            assert graph.delete(path).status_code == 204
        else:
            assert graph.post(f"{path}/permanentDelete").status_code == 204
        assert error_of(graph.get(path)) == (404, "ErrorItemNotFound")
    assert inbox(tenant, attendee) == []


def test_permanently_deleting_a_sent_meeting_cancels_it(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    organizer, attendee = new_mailbox(), new_mailbox()
    event = ok(graph.post(url(tenant, organizer, "events"), json=meeting([attendee])), 201)
    path = url(tenant, organizer, f"events/{event['id']}")
    assert graph.post(f"{path}/permanentDelete").status_code == 204
    assert inbox(tenant, attendee) == [("cancellation", "Canceled: Review"), ("request", "Review")]


def test_cancel_is_the_organizers_and_moves_the_event_to_deleted_items(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    organizer, attendee = new_mailbox(), new_mailbox()
    event = ok(graph.post(url(tenant, organizer, "events"), json=meeting([attendee])), 201)
    settled(tenant.control)
    [copy] = [i for i in tenant.control.items(attendee, "calendar") if i["subject"] == "Review"]
    refused = graph.post(
        url(tenant, attendee, f"events/{copy['id'].replace('/', '-').replace('+', '_')}/cancel"),
        json={},
    )
    assert error_of(refused) == (400, "ErrorInvalidRequest")

    path = url(tenant, organizer, f"events/{event['id']}")
    answer = graph.post(f"{path}/cancel", json={"comment": "Postponed"})
    assert answer.status_code == 202, answer.text
    assert inbox(tenant, attendee) == [("cancellation", "Canceled: Review"), ("request", "Review")]
    assert error_of(graph.get(path)) == (404, "ErrorItemNotFound")
    assert [i["subject"] for i in tenant.control.items(organizer, "deleteditems")] == ["Review"]
