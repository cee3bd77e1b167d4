"""Cursor pages, page sizes, ordering, and a query count that does not grow with the page."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import Attachment
from tests.api.conftest import People, client_for
from tests.factories import (
    make_account,
    make_appointment,
    make_contact,
    make_email,
    make_party,
    make_task,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_cursor_pages_walk_every_record_once(people: People) -> None:
    made = [make_appointment(people.alice, start=T0 + timedelta(hours=i)).pk for i in range(12)]
    client = client_for(people.alice)

    seen: list[int] = []
    url: str | None = "/api/v1/appointments/?page_size=5"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert seen == made  # ordered by start, the default for appointments


def test_page_size_is_capped_at_200(people: People) -> None:
    for _ in range(205):
        make_task(people.alice)

    page = client_for(people.alice).get("/api/v1/tasks/?page_size=1000").json()

    assert len(page["results"]) == 200
    assert page["next"] is not None


@pytest.mark.parametrize("size", ["0", "-3", "abc"])
def test_bad_page_size_falls_back_to_the_default(people: People, size: str) -> None:
    make_task(people.alice)

    response = client_for(people.alice).get(f"/api/v1/tasks/?page_size={size}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_ordering_descending_start(people: People) -> None:
    early = make_appointment(people.alice, start=T0)
    late = make_appointment(people.alice, start=T0 + timedelta(days=1))

    page = client_for(people.alice).get("/api/v1/appointments/?ordering=-start").json()

    assert [row["id"] for row in page["results"]] == [late.pk, early.pk]


def test_ties_are_broken_by_id_across_pages(people: People) -> None:
    same_start = [make_appointment(people.alice, start=T0).pk for _ in range(7)]
    client = client_for(people.alice)

    first = client.get("/api/v1/appointments/?page_size=4").json()
    second = client.get(first["next"]).json()

    assert [r["id"] for r in first["results"] + second["results"]] == same_start


def test_unknown_ordering_is_ignored(people: People) -> None:
    make_task(people.alice)

    response = client_for(people.alice).get("/api/v1/tasks/?ordering=password")

    assert response.status_code == 200


def _seed(people: People, endpoint: str, count: int) -> None:
    account = make_account(people.alice)
    for i in range(count):
        if endpoint == "appointments":
            appointment = make_appointment(
                people.alice, start=T0 + timedelta(hours=i), regarding=account
            )
            make_party(appointment, role="organizer", address="alice@example.test")
            make_party(appointment, role="required", address=f"guest{i}@example.test")
        elif endpoint == "emails":
            email = make_email(people.queue, regarding=account)
            make_party(email, role="from", address=f"sender{i}@example.test")
            make_party(email, role="to", address="support@example.test")
            Attachment.objects.create(email=email, filename=f"file{i}.pdf", size=10)
        elif endpoint == "tasks":
            make_task(people.queue, regarding=account)
        elif endpoint == "contacts":
            make_contact(people.alice, account=account)
        else:
            make_account(people.queue)


def _count_queries(user: Any, url: str) -> int:
    client = client_for(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("endpoint", ["appointments", "emails", "tasks", "contacts", "accounts"])
def test_queries_do_not_grow_with_the_page_size(
    people: People, endpoint: str, django_assert_max_num_queries: Any
) -> None:
    _seed(people, endpoint, 55)
    user = people.queue_owner if endpoint in ("emails", "tasks", "accounts") else people.alice
    client = client_for(user)
    small = _count_queries(user, f"/api/v1/{endpoint}/?page_size=5")

    with django_assert_max_num_queries(small):
        response = client.get(f"/api/v1/{endpoint}/?page_size=50")

    assert len(response.json()["results"]) == 50
    assert small <= 5  # token + page + prefetches, whatever the page size
