"""A null character anywhere in an API request is a 400 naming the field, never a 500.

PostgreSQL refuses NUL in text and JSON (SQLite takes it): CI runs these on PostgreSQL.
"""

from typing import Any
from urllib.parse import quote

import pytest
from django.db.models import Model
from rest_framework import serializers as drf

from activities.api import serializers
from activities.api.filters import (
    AccountFilterSet,
    AppointmentFilterSet,
    ContactFilterSet,
    EmailFilterSet,
    TaskFilterSet,
)
from activities.models import Appointment, Contact, Email, Task
from tests.api.conftest import People, client_for
from tests.factories import make_appointment, make_contact, make_task

NUL = "\x00"

# A valid body per writable endpoint, with every text-like field the serializer takes.
VALID: dict[str, tuple[type[drf.Serializer[Any]], dict[str, Any]]] = {
    "appointments": (
        serializers.AppointmentSerializer,
        {
            "subject": "Kick-off",
            "location": "Room 4",
            "description": "Agenda",
            "start": "2030-05-04T10:00:00Z",
            "end": "2030-05-04T11:00:00Z",
            "time_zone": "Europe/Berlin",
            "busy_status": "busy",
            "regarding_type": "account",
            "categories": ["CRM"],
            "attendees": [{"display_name": "Room 4", "address": "room-4@example.test"}],
        },
    ),
    "tasks": (
        serializers.TaskSerializer,
        {
            "subject": "Call back",
            "description": "About the offer",
            "status": "not_started",
            "priority": "normal",
            "start_date": "2030-05-04",
            "due_date": "2030-05-05",
            "categories": ["CRM"],
        },
    ),
    "contacts": (
        serializers.ContactSerializer,
        {
            "first_name": "Ada",
            "middle_name": "K",
            "last_name": "Lovelace",
            "display_name": "Ada Lovelace",
            "job_title": "Analyst",
            "department": "Engines",
            "company_name": "Babbage & Co",
            "email_address1": "ada@example.test",
            "email_address2": "ada2@example.test",
            "email_address3": "ada3@example.test",
            "phone_numbers": {"business": "+1 555 0100"},
            "addresses": {"business": {"street": "1 Main St", "city": "London"}},
            "categories": ["CRM"],
            "notes": "Met at the fair",
            "birthday": "1815-12-10",
        },
    ),
    "emails": (
        serializers.OutgoingEmailSerializer,
        {
            "subject": "Hello",
            "body_text": "Hi",
            "body_html": "<p>Hi</p>",
            "to": ["bob@example.test"],
            "cc": ["carol@example.test"],
            "bcc": ["dave@example.test"],
            "categories": ["CRM"],
        },
    ),
}
TEXT_FIELDS = (drf.CharField, drf.ChoiceField, drf.ListField, drf.DictField, drf.JSONField)


def poisoned(value: Any) -> Any:
    """The value with a NUL inside its first string."""
    if isinstance(value, str):
        return value[:1] + NUL + value[1:]
    if isinstance(value, list):
        return [poisoned(value[0]), *value[1:]]
    key = next(iter(value))
    return {**value, key: poisoned(value[key])}


def text_fields(serializer_class: type[drf.Serializer[Any]]) -> set[str]:
    return {
        name
        for name, field in serializer_class().fields.items()
        if not field.read_only and isinstance(field, TEXT_FIELDS)
    }


def cases() -> list[tuple[str, str]]:
    return [(endpoint, name) for endpoint, (_, body) in VALID.items() for name in body]


@pytest.mark.parametrize("endpoint", VALID)
def test_the_valid_bodies_cover_every_text_field(endpoint: str) -> None:
    serializer_class, body = VALID[endpoint]
    # regarding_type needs regarding_id; it is given by the tests that post.
    assert text_fields(serializer_class) <= set(body) | {"regarding_type"}


@pytest.mark.parametrize("endpoint", VALID)
def test_the_valid_bodies_are_accepted(people: People, endpoint: str) -> None:
    body = dict(VALID[endpoint][1])
    body.pop("regarding_type", None)

    response = client_for(people.alice).post(f"/api/v1/{endpoint}/", body, format="json")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(("endpoint", "field"), cases())
def test_a_nul_in_any_field_is_a_400_naming_it(people: People, endpoint: str, field: str) -> None:
    body = dict(VALID[endpoint][1])
    body.pop("regarding_type", None)
    body[field] = poisoned(VALID[endpoint][1][field])
    models: dict[str, type[Model]] = {
        "appointments": Appointment,
        "tasks": Task,
        "contacts": Contact,
        "emails": Email,
    }

    response = client_for(people.alice).post(f"/api/v1/{endpoint}/", body, format="json")

    assert response.status_code == 400, response.content
    assert [key.split(".")[0].split("[")[0] for key in response.json()] == [field]
    assert not models[endpoint]._default_manager.exists()


def test_the_400_names_the_nested_place(people: People) -> None:
    body = {
        "last_name": "Lovelace",
        "addresses": {"home": {"city": "Lon" + NUL + "don"}},
        "categories": ["a", "b" + NUL],
    }

    response = client_for(people.alice).post("/api/v1/contacts/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"addresses.home.city": ["Null characters are not allowed."]}


def test_a_nul_in_a_dictionary_key_is_a_400(people: People) -> None:
    body = {"last_name": "Lovelace", "phone_numbers": {"bus" + NUL + "iness": "+1 555 0100"}}

    response = client_for(people.alice).post("/api/v1/contacts/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["phone_numbers.bus\\x00iness"]
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("endpoint", "make", "field"),
    [
        ("appointments", make_appointment, "subject"),
        ("tasks", make_task, "description"),
        ("contacts", make_contact, "notes"),
    ],
)
def test_a_nul_in_an_update_is_a_400_and_changes_nothing(
    people: People, endpoint: str, make: Any, field: str
) -> None:
    record = make(people.alice, **{field: "before"})

    response = client_for(people.alice).patch(
        f"/api/v1/{endpoint}/{record.pk}/", {field: "af" + NUL + "ter"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    record.refresh_from_db()
    assert getattr(record, field) == "before"


def test_a_nul_in_a_form_encoded_api_body_is_a_400(people: People) -> None:
    response = client_for(people.alice).post(
        "/api/v1/tasks/", {"subject": "Call" + NUL}, format="multipart"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["subject"]


QUERY_PARAMETERS = [
    (endpoint, name)
    for endpoint, filterset in (
        ("appointments", AppointmentFilterSet),
        ("tasks", TaskFilterSet),
        ("contacts", ContactFilterSet),
        ("emails", EmailFilterSet),
        ("accounts", AccountFilterSet),
    )
    for name in [*filterset.base_filters, "ordering", "cursor", "page_size"]
]


@pytest.mark.parametrize(("endpoint", "parameter"), QUERY_PARAMETERS)
def test_a_nul_in_any_query_parameter_is_a_400_naming_it(
    people: People, endpoint: str, parameter: str
) -> None:
    response = client_for(people.alice).get(
        f"/api/v1/{endpoint}/?{parameter}={quote('a' + NUL + 'b')}"
    )

    assert response.status_code == 400
    assert response.json() == {parameter: ["Null characters are not allowed."]}
