"""Meetings through the REST API (issue 16), over EWS and Microsoft Graph: one created with
attendees reaches Exchange with them, each attendee receiving its meeting request once;
one cancelled (`is_cancelled`) sends its cancellation once to those who were sent it.
Counted in the attendees' emulator Inboxes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from activities.models import Appointment
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox, Queue
from tests.factories import make_contact, make_user
from tests.sync.helpers import sync
from tests.sync.meeting_sides import CANCELLATION, REQUEST, Side, at, meeting_with

pytestmark = pytest.mark.django_db


def api_for(mailbox: Mailbox) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=mailbox.user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def attendees_in_exchange(side: Side, mailbox: Mailbox, subject: str) -> dict[str, Any]:
    (item,) = [
        i for i in side.control.items(mailbox.email_address, "calendar") if i["subject"] == subject
    ]
    fields = side.control.item(item["id"])["fields"]
    return {k: fields.get(k) for k in ("RequiredAttendees", "OptionalAttendees", "Resources")}


def test_a_meeting_created_through_the_api_invites_a_user_a_contact_and_a_room_once(
    side: Side,
) -> None:
    # given a mailbox past its first sync; a colleague in the owner's queue, a contact of the
    # owner and a room, each with a mailbox in the emulator
    mailbox = side.mailbox()
    colleague, partner, room = side.attendee(), side.attendee(), side.attendee()
    owner = mailbox.user
    assert owner is not None
    colleague_user = make_user(email=colleague)
    queue = Queue.objects.create(name="sales", owner=owner)
    queue.members.add(colleague_user)
    contact = make_contact(owner_user=owner, email_address1=partner)
    sync(mailbox)

    # when the owner's script creates the meeting through the API, and two cycles run
    response = api_for(mailbox).post(
        "/api/v1/appointments/",
        {
            "subject": "Quarterly review",
            "start": at(9).isoformat(),
            "end": at(10).isoformat(),
            "attendees": [
                {"user": colleague_user.pk},
                {"contact": contact.pk, "participation": "optional"},
                {"address": room, "participation": "resource"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    sync(mailbox)
    sync(mailbox)

    # then the organizer's Exchange calendar holds it with its three kinds of attendees
    assert attendees_in_exchange(side, mailbox, "Quarterly review") == {
        "RequiredAttendees": [colleague],
        "OptionalAttendees": [partner],
        "Resources": [room],
    }
    # and each attendee received the request exactly once
    for attendee in (colleague, partner, room):
        assert side.inbox(attendee) == [(REQUEST, "Quarterly review")]
    mapping = ExchangeSyncIdMapping.objects.get(
        mailbox=mailbox, object_type=ItemType.APPOINTMENT, crm_object_id=response.json()["id"]
    )
    assert mapping.invited == sorted(a.lower() for a in (colleague, partner, room))


def test_cancelling_a_meeting_through_the_api_sends_its_cancellation_once(side: Side) -> None:
    # given a meeting created in the CRM after the first sync, sent to its attendee
    mailbox, colleague = side.mailbox(), side.attendee()
    sync(mailbox)
    meeting = meeting_with(mailbox, colleague, "Budget talk")
    sync(mailbox)
    assert side.inbox(colleague) == [(REQUEST, "Budget talk")]

    # when the owner cancels it through the API, and two cycles run
    client = api_for(mailbox)
    response = client.patch(
        f"/api/v1/appointments/{meeting.pk}/", {"is_cancelled": True}, format="json"
    )
    assert response.status_code == 200, response.content
    sync(mailbox)
    sync(mailbox)

    # then the attendee got one cancellation, the organizer's calendar no longer shows it,
    # and the CRM keeps the cancelled meeting, which cannot be reinstated
    assert side.inbox(colleague) == [
        (CANCELLATION, "Canceled: Budget talk"),
        (REQUEST, "Budget talk"),
    ]
    assert side.calendar(mailbox) == []
    assert Appointment.objects.get(pk=meeting.pk).is_cancelled
    again = client.patch(
        f"/api/v1/appointments/{meeting.pk}/", {"is_cancelled": False}, format="json"
    )
    assert again.status_code == 400
    assert "cannot be reinstated" in again.json()["is_cancelled"][0]


def test_cancelling_a_meeting_nobody_was_sent_removes_it_silently(side: Side) -> None:
    # given a meeting the first sync exported without invitations
    mailbox, colleague = side.mailbox(), side.attendee()
    meeting = meeting_with(mailbox, colleague, "Never announced")
    sync(mailbox)

    # when it is cancelled in the CRM (the admin, a script: the record's field)
    meeting.is_cancelled = True
    meeting.save()
    sync(mailbox)
    sync(mailbox, full_resync=True)

    # then it leaves the organizer's calendar and nobody hears of it, even after a full
    # resync
    assert side.calendar(mailbox) == []
    assert side.inbox(colleague) == []
    assert Appointment.objects.get(pk=meeting.pk).is_cancelled


def test_attendees_given_through_the_api_to_an_appointment_are_invited_once(side: Side) -> None:
    # given an appointment created through the API without attendees, in Exchange
    mailbox, colleague = side.mailbox(), side.attendee()
    sync(mailbox)
    client = api_for(mailbox)
    created = client.post(
        "/api/v1/appointments/",
        {"subject": "Lunch", "start": at(12).isoformat(), "end": at(13).isoformat()},
        format="json",
    )
    assert created.status_code == 201, created.content
    sync(mailbox)

    # when the owner's script gives it an attendee, and two cycles run
    response = client.patch(
        f"/api/v1/appointments/{created.json()['id']}/",
        {"attendees": [{"address": colleague}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    sync(mailbox)
    sync(mailbox)

    # then the attendee is in Exchange and received the request once
    assert attendees_in_exchange(side, mailbox, "Lunch")["RequiredAttendees"] == [colleague]
    assert side.inbox(colleague) == [(REQUEST, "Lunch")]
