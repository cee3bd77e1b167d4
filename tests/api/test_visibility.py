"""Who sees what: owner, queue owner, queue member, stranger, staff, anonymous."""

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Model

from mailboxes.models import Mailbox
from tests.api.conftest import People, client_for
from tests.factories import (
    make_account,
    make_appointment,
    make_contact,
    make_email,
    make_task,
)
from users.models import User

MAKERS: dict[str, Callable[..., Model]] = {
    "appointments": make_appointment,
    "tasks": make_task,
    "emails": make_email,
    "contacts": make_contact,
    "accounts": make_account,
}
ENDPOINTS = list(MAKERS)


def listed_ids(user: User | None, endpoint: str) -> set[int]:
    response = client_for(user).get(f"/api/v1/{endpoint}/")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def records(people: People, endpoint: str) -> tuple[Any, Any]:
    make = MAKERS[endpoint]
    return make(people.alice), make(people.queue)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_owner_sees_own_records_only(people: People, endpoint: str) -> None:
    mine, _ = records(people, endpoint)

    assert listed_ids(people.alice, endpoint) == {mine.pk}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_queue_member_sees_the_queue_records(people: People, endpoint: str) -> None:
    _, queues = records(people, endpoint)

    assert listed_ids(people.member, endpoint) == {queues.pk}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_queue_owner_sees_the_queue_records(people: People, endpoint: str) -> None:
    _, queues = records(people, endpoint)

    assert listed_ids(people.queue_owner, endpoint) == {queues.pk}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stranger_sees_nothing(people: People, endpoint: str) -> None:
    records(people, endpoint)

    assert listed_ids(people.stranger, endpoint) == set()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_staff_sees_everything(people: People, endpoint: str) -> None:
    mine, queues = records(people, endpoint)

    assert listed_ids(people.staff, endpoint) == {mine.pk, queues.pk}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stranger_gets_404_on_a_detail(people: People, endpoint: str) -> None:
    mine, _ = records(people, endpoint)

    response = client_for(people.stranger).get(f"/api/v1/{endpoint}/{mine.pk}/")

    assert response.status_code == 404
    assert response.json() == {"detail": f"No {mine._meta.object_name} matches the given query."}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_member_reads_a_queue_record(people: People, endpoint: str) -> None:
    _, queues = records(people, endpoint)

    response = client_for(people.member).get(f"/api/v1/{endpoint}/{queues.pk}/")

    assert response.status_code == 200
    assert response.json()["owner_queue"] == people.queue.pk


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_is_refused(people: People, endpoint: str) -> None:
    mine, _ = records(people, endpoint)

    listing = client_for(None).get(f"/api/v1/{endpoint}/")
    detail = client_for(None).get(f"/api/v1/{endpoint}/{mine.pk}/")

    # Token authentication is first, so DRF answers 401 with a WWW-Authenticate challenge.
    assert listing.status_code == 401
    assert detail.status_code == 401
    assert listing["WWW-Authenticate"] == "Token"


def test_bad_token_is_refused(people: People) -> None:
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/v1/appointments/")

    assert response.status_code == 401


def test_session_login_works_too(people: People, client: Any) -> None:
    mine = make_appointment(people.alice)
    client.force_login(people.alice)

    response = client.get("/api/v1/appointments/")

    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_session_write_needs_csrf(people: People) -> None:
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(people.alice)

    response = client.post("/api/v1/tasks/", {"subject": "x"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_stranger_cannot_update_or_delete(people: People) -> None:
    task = make_task(people.alice, subject="Private")
    client = client_for(people.stranger)

    patched = client.patch(f"/api/v1/tasks/{task.pk}/", {"subject": "Mine now"}, format="json")
    deleted = client.delete(f"/api/v1/tasks/{task.pk}/")

    assert (patched.status_code, deleted.status_code) == (404, 404)
    task.refresh_from_db()
    assert task.subject == "Private"


def test_member_can_update_a_queue_task(people: People) -> None:
    task = make_task(people.queue, subject="Shared")

    response = client_for(people.member).patch(
        f"/api/v1/tasks/{task.pk}/", {"subject": "Shared, edited"}, format="json"
    )

    assert response.status_code == 200
    task.refresh_from_db()
    assert task.subject == "Shared, edited"


def test_no_credentials_in_any_response(people: People) -> None:
    mailbox = Mailbox.objects.get(user=people.alice)
    mailbox.username = "alice-login"
    mailbox.password = "s3cret-Pa55word"
    mailbox.save()
    email = make_email(people.alice, mailbox=mailbox)
    make_appointment(people.alice)
    client = client_for(people.alice)

    bodies = [client.get(f"/api/v1/{endpoint}/").content for endpoint in ENDPOINTS]
    bodies.append(client.get(f"/api/v1/emails/{email.pk}/").content)

    assert mailbox.pk == client.get(f"/api/v1/emails/{email.pk}/").json()["mailbox"]
    for body in bodies:
        assert b"s3cret-Pa55word" not in body
        assert b"alice-login" not in body
        assert b"password" not in body


def test_queue_of_records_is_not_leaked_by_email_mailbox_filter(people: People) -> None:
    queue_mailbox = Mailbox.objects.get(queue=people.queue)
    make_email(people.queue, mailbox=queue_mailbox)

    response = client_for(people.stranger).get(f"/api/v1/emails/?mailbox={queue_mailbox.pk}")

    assert response.json()["results"] == []
