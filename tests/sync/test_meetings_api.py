"""A meeting created through the REST API reaches Exchange with its attendees, and each
attendee receives its meeting request once (issue 16), counted in the attendees' emulator
Inboxes as their own Outlook (exchangelib) reads them."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mailboxes.connectors.ews import account_for
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Queue
from tests.factories import make_contact
from tests.sync.helpers import emulated_mailbox, sync
from tests.sync.test_meetings import REQUEST, received

pytestmark = pytest.mark.django_db


def test_a_meeting_created_through_the_api_invites_a_user_a_contact_and_a_room_once(ews) -> None:
    # given a mailbox past its first sync; a colleague in the owner's queue, a contact of the
    # owner and a room, each with a mailbox in the emulator
    mailbox = emulated_mailbox(ews)
    colleague, partner, room = emulated_mailbox(ews), emulated_mailbox(ews), emulated_mailbox(ews)
    owner, colleague_user = mailbox.user, colleague.user
    assert owner is not None and colleague_user is not None
    queue = Queue.objects.create(name="sales", owner=owner)
    queue.members.add(colleague_user)
    contact = make_contact(owner_user=owner, email_address1=partner.email_address)
    sync(mailbox)

    # when the owner's script creates the meeting through the API, and two cycles run
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=owner)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = client.post(
        "/api/v1/appointments/",
        {
            "subject": "Quarterly review",
            "start": "2030-10-01T09:00:00Z",
            "end": "2030-10-01T10:00:00Z",
            "attendees": [
                {"user": colleague_user.pk},
                {"contact": contact.pk, "participation": "optional"},
                {"address": room.email_address, "participation": "resource"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    sync(mailbox)
    sync(mailbox)

    # then the organizer's Exchange calendar holds it with its three kinds of attendees
    (item,) = account_for(mailbox).calendar.filter(subject="Quarterly review")
    assert [a.mailbox.email_address for a in item.required_attendees or []] == [
        colleague.email_address
    ]
    assert [a.mailbox.email_address for a in item.optional_attendees or []] == [
        partner.email_address
    ]
    assert [a.mailbox.email_address for a in item.resources or []] == [room.email_address]
    # and each attendee received the request exactly once
    for attendee in (colleague, partner, room):
        assert received(attendee) == [(REQUEST, "Quarterly review")]
    mapping = ExchangeSyncIdMapping.objects.get(
        mailbox=mailbox, object_type=ItemType.APPOINTMENT, crm_object_id=response.json()["id"]
    )
    assert mapping.invited == sorted(a.email_address.lower() for a in (colleague, partner, room))
