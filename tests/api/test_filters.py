"""Every list filter narrows the results to exactly the matching records."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from activities.models import Appointment, Contact, Email, Task
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox
from tests.api.conftest import People, client_for
from tests.factories import (
    make_account,
    make_appointment,
    make_contact,
    make_email,
    make_task,
)
from users.models import User

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


def ids(user: User, url: str) -> list[int]:
    response = client_for(user).get(url)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def as_param(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_owner_and_queue_filters(people: People) -> None:
    mine = make_appointment(people.queue_owner)
    queues = make_appointment(people.queue)

    by_owner = ids(people.queue_owner, f"/api/v1/appointments/?owner={people.queue_owner.pk}")
    by_queue = ids(people.queue_owner, f"/api/v1/appointments/?queue={people.queue.pk}")

    assert (by_owner, by_queue) == ([mine.pk], [queues.pk])


def test_email_mailbox_filter(people: People) -> None:
    mailbox = Mailbox.objects.get(user=people.alice)
    through_mailbox = make_email(people.alice, mailbox=mailbox)
    make_email(people.alice, mailbox=None)

    assert ids(people.alice, f"/api/v1/emails/?mailbox={mailbox.pk}") == [through_mailbox.pk]


@pytest.mark.parametrize(
    ("endpoint", "make", "item_type"),
    [
        ("appointments", make_appointment, ItemType.APPOINTMENT),
        ("tasks", make_task, ItemType.TASK),
        ("contacts", make_contact, ItemType.CONTACT),
    ],
)
def test_mailbox_filter_follows_the_id_mappings(
    people: People, endpoint: str, make: Any, item_type: str
) -> None:
    mailbox = Mailbox.objects.get(user=people.alice)
    synced = make(people.alice)
    make(people.alice)
    ExchangeSyncIdMapping.objects.create(
        mailbox=mailbox,
        object_type=item_type,
        crm_content_type=ContentType.objects.get_for_model(type(synced)),
        crm_object_id=synced.pk,
        exchange_item_id="AAMkADEx",
    )

    assert ids(people.alice, f"/api/v1/{endpoint}/?mailbox={mailbox.pk}") == [synced.pk]


def test_regarding_filters(people: People) -> None:
    account = make_account(people.alice)
    contact = make_contact(people.alice)
    about_account = make_task(people.alice, regarding=account)
    about_contact = make_task(people.alice, regarding=contact)
    make_task(people.alice)

    by_type = ids(people.alice, "/api/v1/tasks/?regarding_type=account")
    by_both = ids(people.alice, f"/api/v1/tasks/?regarding_type=contact&regarding_id={contact.pk}")

    assert by_type == [about_account.pk]
    assert by_both == [about_contact.pk]


def test_modified_since(people: People) -> None:
    old = make_task(people.alice)
    new = make_task(people.alice)
    Task.objects.filter(pk=old.pk).update(modified_at=T0 - timedelta(days=2))
    Task.objects.filter(pk=new.pk).update(modified_at=T0)

    assert ids(people.alice, f"/api/v1/tasks/?modified_since={as_param(T0)}") == [new.pk]


def test_appointment_start_and_end_range(people: People) -> None:
    early = make_appointment(people.alice, start=T0, end=T0 + timedelta(hours=1))
    late = make_appointment(people.alice, start=T0 + timedelta(days=1))
    day_one = as_param(T0 + timedelta(hours=12))

    assert ids(people.alice, f"/api/v1/appointments/?start_after={day_one}") == [late.pk]
    assert ids(people.alice, f"/api/v1/appointments/?start_before={day_one}") == [early.pk]
    assert ids(people.alice, f"/api/v1/appointments/?end_before={day_one}") == [early.pk]
    assert ids(people.alice, f"/api/v1/appointments/?end_after={day_one}") == [late.pk]


def test_task_due_range_and_status(people: People) -> None:
    due_soon = make_task(people.alice, due_date=T0, status=Task.Status.IN_PROGRESS)
    make_task(people.alice, due_date=T0 + timedelta(days=30), status=Task.Status.COMPLETED)
    before, after = as_param(T0 - timedelta(days=1)), as_param(T0 + timedelta(days=1))
    window = f"due_after={before}&due_before={after}"

    assert ids(people.alice, f"/api/v1/tasks/?{window}") == [due_soon.pk]
    assert ids(people.alice, "/api/v1/tasks/?status=in_progress") == [due_soon.pk]


def test_email_status_direction_and_dates(people: People) -> None:
    received = make_email(people.alice, received_at=T0)
    sent = make_email(
        people.alice,
        direction=Email.Direction.OUTGOING,
        status=Email.Status.SENT,
        sent_at=T0 + timedelta(days=1),
    )

    assert ids(people.alice, "/api/v1/emails/?direction=outgoing") == [sent.pk]
    assert ids(people.alice, "/api/v1/emails/?status=received") == [received.pk]
    assert ids(
        people.alice, f"/api/v1/emails/?received_before={as_param(T0 + timedelta(hours=1))}"
    ) == [received.pk]
    assert ids(people.alice, f"/api/v1/emails/?sent_after={as_param(T0)}") == [sent.pk]


def test_search_on_subject(people: People) -> None:
    match = make_appointment(people.alice, subject="Quarterly Review with ACME")
    make_appointment(people.alice, subject="Lunch")

    assert ids(people.alice, "/api/v1/appointments/?search=review") == [match.pk]


def test_contact_search_and_account_filter(people: People) -> None:
    account = make_account(people.alice, name="ACME")
    grace = make_contact(people.alice, first_name="Grace", last_name="Hopper", account=account)
    make_contact(people.alice, first_name="Alan", last_name="Turing")

    assert ids(people.alice, "/api/v1/contacts/?search=hopp") == [grace.pk]
    assert ids(people.alice, f"/api/v1/contacts/?account={account.pk}") == [grace.pk]


def test_account_search(people: People) -> None:
    acme = make_account(people.alice, name="ACME Corporation")
    make_account(people.alice, name="Globex")

    assert ids(people.alice, "/api/v1/accounts/?search=acme") == [acme.pk]


def test_appointment_busy_status_and_cancelled(people: People) -> None:
    free = make_appointment(people.alice, busy_status=Appointment.BusyStatus.FREE)
    cancelled = make_appointment(people.alice, is_cancelled=True)

    assert ids(people.alice, "/api/v1/appointments/?busy_status=free") == [free.pk]
    assert ids(people.alice, "/api/v1/appointments/?is_cancelled=true") == [cancelled.pk]


def test_filters_combine(people: People) -> None:
    wanted = make_appointment(people.alice, start=T0, subject="Review")
    make_appointment(people.alice, start=T0, subject="Other")
    make_appointment(people.alice, start=T0 + timedelta(days=9), subject="Review")

    before, after = as_param(T0 - timedelta(days=1)), as_param(T0 + timedelta(days=1))
    url = (
        f"/api/v1/appointments/?owner={people.alice.pk}&search=review"
        f"&start_after={before}&start_before={after}"
    )
    assert ids(people.alice, url) == [wanted.pk]


@pytest.mark.parametrize(
    "query",
    [
        "owner=abc",
        "owner=0",
        "owner=99999999999999999999999",
        "modified_since=yesterday",
        "start_after=2030-13-45T99:00:00Z",
        "status=bogus",
        "regarding_type=user",
    ],
)
def test_bad_filter_values_are_400_naming_the_filter(people: People, query: str) -> None:
    endpoint = "tasks" if query.startswith("status") else "appointments"

    response = client_for(people.alice).get(f"/api/v1/{endpoint}/?{query}")

    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_contacts_default_to_modified_order(people: People) -> None:
    first = make_contact(people.alice)
    second = make_contact(people.alice)
    Contact.objects.filter(pk=first.pk).update(modified_at=timezone.now() - timedelta(hours=1))

    assert ids(people.alice, "/api/v1/contacts/") == [second.pk, first.pk]


@pytest.mark.parametrize(
    "moment",
    [
        "0744-04-25T11:34:21.465800-17:28",  # an offset PostgreSQL refuses
        "0001-01-01T00:00:00+05:00",  # before the first representable UTC time
        "9999-12-31T23:59:59-05:00",  # after the last one
    ],
)
def test_times_at_the_edges_are_not_server_errors(people: People, moment: str) -> None:
    from urllib.parse import quote

    response = client_for(people.alice).get(f"/api/v1/emails/?modified_since={quote(moment)}")

    assert response.status_code in (200, 400)
