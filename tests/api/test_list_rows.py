"""List pages are rendered from rows (`activities.api.listing`); the JSON must be exactly
what the serializers render from model instances, key order included."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework import serializers as drf
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from activities.api import serializers
from activities.api.listing import RowRenderer
from activities.models import Appointment, Attachment, Email, Task
from mailboxes.models import Mailbox
from tests.api.conftest import People, client_for
from tests.factories import (
    make_account,
    make_appointment,
    make_contact,
    make_email,
    make_party,
    make_task,
)

WHEN = datetime(2031, 3, 4, 9, 30, 15, 123456, tzinfo=UTC)


def as_the_serializer_renders(
    serializer_class: type[drf.ModelSerializer[Any]], instances: list[Any], people: People
) -> list[Any]:
    request = APIRequestFactory().get("/")
    request.user = people.alice
    data = serializer_class(instances, many=True, context={"request": request}).data
    return list(json.loads(JSONRenderer().render(data)))


def listed(people: People, path: str) -> list[Any]:
    response = client_for(people.alice).get(path)
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def test_appointments_page_is_the_serializers_json(people: People) -> None:
    account = make_account(people.alice)
    contact = make_contact(people.alice)
    master = make_appointment(
        people.alice,
        subject="Weekly",
        start=WHEN,
        recurrence={"pattern": "weekly", "interval": 1, "days": ["monday"]},
        categories=["CRM", "Ünïcode"],
        regarding=account,
        reminder_minutes=15,
        time_zone="Europe/Berlin",
    )
    occurrence = make_appointment(
        people.alice,
        start=WHEN + timedelta(days=7),
        series_master=master,
        original_start=WHEN + timedelta(days=7),
        is_cancelled=True,
        is_all_day=True,
        busy_status=Appointment.BusyStatus.FREE,
        location="",
    )
    make_appointment(people.queue, subject="Queue's", start=WHEN + timedelta(hours=1))
    make_party(master, role="organizer", address="alice@example.test")
    party = make_party(master, role="required", address="ada@example.test")
    party.contact, party.display_name = contact, "Ada"
    party.save()
    make_party(occurrence, role="optional", address="not an address")
    expected_rows = list(
        Appointment.objects.filter(owner_user=people.alice).order_by("start", "pk")
    )

    page = listed(people, f"/api/v1/appointments/?owner={people.alice.pk}")

    assert page == as_the_serializer_renders(
        serializers.AppointmentSerializer, expected_rows, people
    )
    readable = [
        name
        for name, field in serializers.AppointmentSerializer().fields.items()
        if not field.write_only
    ]
    assert [list(row) for row in page] == [readable] * 2
    assert page[0]["parties"][1]["contact"] == contact.pk
    assert page[0]["regarding_type"] == "account"


def test_emails_page_is_the_serializers_json(people: People) -> None:
    mailbox = Mailbox.objects.get(user=people.alice)
    received = make_email(
        people.alice,
        mailbox=mailbox,
        received_at=WHEN,
        from_address="bob@example.test",
        body_html="<p>Hi</p>",
        categories=["x"],
        regarding=make_contact(people.alice),
    )
    make_email(people.alice, direction=Email.Direction.OUTGOING, status=Email.Status.PENDING_SEND)
    make_party(received, role="from", address="bob@example.test")
    make_party(received, role="to", address="alice@example.test")
    Attachment.objects.create(email=received, filename="a.pdf", size=10, is_inline=False)
    Attachment.objects.create(email=received, filename="b.png", error="too big", is_inline=True)
    expected_rows = list(
        Email.objects.filter(owner_user=people.alice).order_by("-modified_at", "-pk")
    )

    page = listed(people, "/api/v1/emails/")

    assert page == as_the_serializer_renders(serializers.EmailSerializer, expected_rows, people)
    assert [a["filename"] for a in page[1]["attachments"]] == ["a.pdf", "b.png"]


def test_tasks_page_is_the_serializers_json(people: People) -> None:
    make_task(
        people.alice,
        start_date=WHEN,
        due_date=WHEN + timedelta(days=2),
        completed_at=WHEN + timedelta(days=1),
        status=Task.Status.COMPLETED,
        percent_complete=100,
        priority=Task.Priority.HIGH,
        regarding=make_account(people.alice),
    )
    make_task(people.alice)
    make_task(people.queue)
    expected_rows = list(
        Task.objects.filter(owner_user=people.alice).order_by("-modified_at", "-pk")
    )

    page = listed(people, f"/api/v1/tasks/?owner={people.alice.pk}")

    assert page == as_the_serializer_renders(serializers.TaskSerializer, expected_rows, people)


def test_the_next_cursor_of_a_row_page_continues_where_the_page_ended(people: People) -> None:
    for day in range(5):
        make_appointment(people.alice, subject=f"Day {day}", start=WHEN + timedelta(days=day))

    first = client_for(people.alice).get("/api/v1/appointments/?page_size=2").json()
    second = client_for(people.alice).get(first["next"]).json()

    assert [a["subject"] for a in first["results"] + second["results"]] == [
        "Day 0",
        "Day 1",
        "Day 2",
        "Day 3",
    ]


def test_a_field_the_rows_cannot_render_is_refused_when_the_renderer_is_built() -> None:
    class WithMethod(drf.ModelSerializer[Task]):
        shout = drf.SerializerMethodField()

        class Meta:
            model = Task
            fields = ["id", "shout"]

    class WithDottedSource(drf.ModelSerializer[Task]):
        owner_name = drf.CharField(source="owner_user.username")

        class Meta:
            model = Task
            fields = ["id", "owner_name"]

    with pytest.raises(TypeError, match="method fields"):
        RowRenderer(WithMethod(), Task)
    with pytest.raises(TypeError, match="dotted sources"):
        RowRenderer(WithDottedSource(), Task)
