"""Meetings through the API (issue 16): attendees written as users, contacts and plain
addresses, required / optional / resource, limited to what the caller may see."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from activities.models import ActivityParty, Appointment
from tests.api.conftest import People, client_for
from tests.factories import make_appointment, make_contact, make_person

START = "2030-05-04T10:00:00Z"
END = "2030-05-04T11:00:00Z"


def create(client: APIClient, attendees: list[dict[str, Any]]) -> Any:
    return client.post(
        "/api/v1/appointments/",
        {"subject": "Review", "start": START, "end": END, "attendees": attendees},
        format="json",
    )


def attendees_of(appointment_id: int) -> list[tuple[str, str, int | None, int | None]]:
    return sorted(
        ActivityParty.objects.filter(appointment_id=appointment_id).values_list(
            "role", "address", "user_id", "contact_id"
        )
    )


def test_create_with_a_user_a_contact_and_an_address(people: People) -> None:
    # given a colleague from alice's queue and one of alice's contacts
    people.queue.members.add(people.alice)
    contact = make_contact(
        people.alice, first_name="Yara", email_address1="", email_address2="Yara@Partner.Example"
    )

    response = create(
        client_for(people.alice),
        [
            {"user": people.member.pk},
            {"contact": contact.pk, "participation": "optional"},
            {"address": "room-4@example.test", "participation": "resource"},
        ],
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert attendees_of(body["id"]) == [
        ("optional", "Yara@Partner.Example", None, contact.pk),
        ("required", people.member.email, people.member.pk, None),
        ("resource", "room-4@example.test", None, None),
    ]
    # read back as parties, write-only field not echoed
    assert "attendees" not in body
    assert sorted(p["role"] for p in body["parties"]) == ["optional", "required", "resource"]


def test_a_contact_address_can_be_chosen_and_must_be_the_contacts(people: People) -> None:
    contact = make_contact(
        people.alice, email_address1="first@partner.example", email_address2="second@p.example"
    )
    client = client_for(people.alice)

    chosen = create(client, [{"contact": contact.pk, "address": "SECOND@p.example"}])
    foreign = create(client, [{"contact": contact.pk, "address": "else@p.example"}])

    assert chosen.status_code == 201, chosen.content
    assert attendees_of(chosen.json()["id"]) == [("required", "second@p.example", None, contact.pk)]
    assert foreign.status_code == 400
    assert foreign.json()["attendees"] == {
        "0": [f"else@p.example is not an address of contact {contact.pk}."]
    }


def test_contacts_and_users_the_caller_cannot_see_are_refused_by_position(
    people: People,
) -> None:
    hidden_contact = make_contact(people.stranger, email_address1="hidden@partner.example")
    outsider = make_person("olga")

    response = create(
        client_for(people.alice),
        [
            {"address": "fine@example.test"},
            {"contact": hidden_contact.pk},
            {"user": outsider.pk},
        ],
    )

    assert response.status_code == 400
    assert response.json()["attendees"] == {
        "1": [f"No contact with id {hidden_contact.pk} is visible to you."],
        "2": [f"No user with id {outsider.pk} is visible to you."],
    }
    assert not Appointment.objects.exists()


def test_staff_may_name_any_user(people: People) -> None:
    response = create(client_for(people.staff), [{"user": people.alice.pk}])

    assert response.status_code == 201, response.content
    assert attendees_of(response.json()["id"]) == [
        ("required", people.alice.email, people.alice.pk, None)
    ]


@pytest.mark.parametrize(
    ("attendee", "message"),
    [
        ({}, "Name a user, a contact or an address."),
        ({"user": 1, "contact": 1}, "Name a user or a contact, not both."),
        ({"address": "not an address"}, "Enter a valid email address."),
        ({"address": "a@example.test", "participation": "chair"}, '"chair" is not a valid choice.'),
    ],
)
def test_malformed_attendees_get_a_clear_400(
    people: People, attendee: dict[str, Any], message: str
) -> None:
    response = create(client_for(people.alice), [attendee])

    assert response.status_code == 400
    assert message in str(response.json()["attendees"])


def test_an_address_named_twice_is_refused(people: People) -> None:
    response = create(
        client_for(people.alice),
        [{"address": "twice@example.test"}, {"address": "TWICE@example.test"}],
    )

    assert response.status_code == 400
    assert response.json()["attendees"] == {"1": ["TWICE@example.test is already attendee 0."]}


def test_a_plain_address_links_only_to_records_the_caller_sees(people: People) -> None:
    own = make_contact(people.alice, email_address1="mine@partner.example")
    make_contact(people.stranger, email_address1="theirs@partner.example")

    response = create(
        client_for(people.alice),
        [{"address": "MINE@partner.example"}, {"address": "theirs@partner.example"}],
    )

    assert response.status_code == 201, response.content
    assert attendees_of(response.json()["id"]) == [
        ("required", "MINE@partner.example", None, own.pk),
        ("required", "theirs@partner.example", None, None),
    ]


def test_update_replaces_attendees_and_a_kept_one_keeps_its_response(people: People) -> None:
    # given a meeting with an organizer, one attendee who accepted and one who did not answer
    meeting = make_appointment(people.alice)
    ActivityParty.objects.create(appointment=meeting, role="organizer", address=people.alice.email)
    ActivityParty.objects.create(
        appointment=meeting, role="required", address="kept@example.test", response="accepted"
    )
    ActivityParty.objects.create(appointment=meeting, role="required", address="gone@example.test")

    # when the attendees are replaced: one kept (now optional), one dropped, one added
    response = client_for(people.alice).patch(
        f"/api/v1/appointments/{meeting.pk}/",
        {
            "attendees": [
                {"address": "Kept@example.test", "participation": "optional"},
                {"address": "new@example.test"},
            ]
        },
        format="json",
    )

    # then
    assert response.status_code == 200, response.content
    rows = sorted(
        meeting.parties.values_list("role", "address", "response"),
    )
    assert rows == [
        ("optional", "Kept@example.test", "accepted"),
        ("organizer", people.alice.email, "none"),
        ("required", "new@example.test", "none"),
    ]


def test_update_without_attendees_keeps_them(people: People) -> None:
    meeting = make_appointment(people.alice)
    ActivityParty.objects.create(appointment=meeting, role="required", address="a@example.test")

    response = client_for(people.alice).patch(
        f"/api/v1/appointments/{meeting.pk}/", {"subject": "Renamed"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert list(meeting.parties.values_list("address", flat=True)) == ["a@example.test"]


def test_the_schema_documents_attendees(client: Any) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    components = schema["components"]["schemas"]
    attendees = components["Appointment"]["properties"]["attendees"]
    assert attendees["writeOnly"] is True
    attendee = components[attendees["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(attendee["properties"]) == {
        "user",
        "contact",
        "address",
        "display_name",
        "participation",
    }
