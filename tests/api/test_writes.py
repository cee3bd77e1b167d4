"""Create, update and delete through the API; ETags and If-Match; errors as JSON."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType

from activities.models import ActivityParty, Appointment, ChangeOrigin, Contact, Email, Task
from crmsync.choices import OutgoingDeliveryMethod
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, ItemType, Mailbox
from tests.api.conftest import People, client_for
from tests.factories import make_account, make_appointment, make_contact, make_task

START = "2030-05-04T10:00:00Z"
END = "2030-05-04T11:30:00Z"


def test_create_appointment_is_marked_for_the_sync_engine(people: People) -> None:
    response = client_for(people.alice).post(
        "/api/v1/appointments/",
        {"subject": "Kick-off", "start": START, "end": END, "location": "Room 4"},
        format="json",
    )

    assert response.status_code == 201, response.content
    appointment = Appointment.objects.get(pk=response.json()["id"])
    assert appointment.owner_user == people.alice
    assert appointment.change_origin == ChangeOrigin.API
    assert appointment.start == datetime(2030, 5, 4, 10, tzinfo=UTC)
    assert response["ETag"] == response.json()["etag"]


def test_create_task_for_a_queue_the_member_belongs_to(people: People) -> None:
    response = client_for(people.member).post(
        "/api/v1/tasks/", {"subject": "Call back", "owner_queue": people.queue.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert (task.owner_queue, task.owner_user) == (people.queue, None)


def test_create_for_a_foreign_queue_is_refused(people: People) -> None:
    response = client_for(people.stranger).post(
        "/api/v1/tasks/", {"subject": "Sneaky", "owner_queue": people.queue.pk}, format="json"
    )

    assert response.status_code == 400
    assert "owner_queue" in response.json()
    assert not Task.objects.exists()


def test_create_for_another_user_is_refused_unless_staff(people: People) -> None:
    payload = {"subject": "For Alice", "owner_user": people.alice.pk}

    refused = client_for(people.stranger).post("/api/v1/tasks/", payload, format="json")
    allowed = client_for(people.staff).post("/api/v1/tasks/", payload, format="json")

    assert refused.status_code == 400
    assert "owner_user" in refused.json()
    assert allowed.status_code == 201
    assert Task.objects.get().owner_user == people.alice


def test_create_contact_regarding_fields_and_account(people: People) -> None:
    account = make_account(people.alice, name="ACME")

    response = client_for(people.alice).post(
        "/api/v1/contacts/",
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email_address1": "grace@example.test",
            "account": account.pk,
            "phone_numbers": {"business": "+1 555 0100"},
            "addresses": {"business": {"city": "Arlington", "country": "US"}},
            "categories": ["VIP"],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    contact = Contact.objects.get(pk=response.json()["id"])
    assert contact.account == account
    assert contact.addresses == {"business": {"city": "Arlington", "country": "US"}}
    assert contact.change_origin == ChangeOrigin.API


def test_contact_with_an_invisible_account_is_refused(people: People) -> None:
    foreign = make_account(people.stranger)

    response = client_for(people.alice).post(
        "/api/v1/contacts/", {"last_name": "X", "account": foreign.pk}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["account"]


def test_task_regarding_a_visible_account(people: People) -> None:
    account = make_account(people.alice)

    response = client_for(people.alice).post(
        "/api/v1/tasks/",
        {"subject": "Follow up", "regarding_type": "account", "regarding_id": account.pk},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Task.objects.get().regarding == account
    assert response.json()["regarding_type"] == "account"


def test_task_regarding_an_invisible_record_is_refused(people: People) -> None:
    foreign = make_contact(people.stranger)

    response = client_for(people.alice).post(
        "/api/v1/tasks/",
        {"subject": "Peek", "regarding_type": "contact", "regarding_id": foreign.pk},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["regarding_id"]


def test_patch_updates_and_marks_origin(people: People) -> None:
    task = make_task(people.alice, subject="Draft")

    response = client_for(people.alice).patch(
        f"/api/v1/tasks/{task.pk}/", {"percent_complete": 50}, format="json"
    )

    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert (task.percent_complete, task.subject, task.change_origin) == (50, "Draft", "api")


def test_put_replaces(people: People) -> None:
    appointment = make_appointment(people.alice, location="Old room")

    response = client_for(people.alice).put(
        f"/api/v1/appointments/{appointment.pk}/",
        {"subject": "Moved", "start": START, "end": END},
        format="json",
    )

    assert response.status_code == 200, response.content
    appointment.refresh_from_db()
    assert (appointment.subject, appointment.location) == ("Moved", "Old room")


def test_if_match_current_etag_applies_the_change(people: People) -> None:
    task = make_task(people.alice, subject="v1")
    client = client_for(people.alice)
    etag = client.get(f"/api/v1/tasks/{task.pk}/")["ETag"]

    response = client.patch(
        f"/api/v1/tasks/{task.pk}/", {"subject": "v2"}, format="json", HTTP_IF_MATCH=etag
    )

    assert response.status_code == 200
    assert response["ETag"] != etag
    task.refresh_from_db()
    assert task.subject == "v2"


def test_if_match_stale_etag_is_412_and_changes_nothing(people: People) -> None:
    task = make_task(people.alice, subject="v1")
    client = client_for(people.alice)
    stale = client.get(f"/api/v1/tasks/{task.pk}/")["ETag"]
    client.patch(f"/api/v1/tasks/{task.pk}/", {"subject": "someone else"}, format="json")

    response = client.patch(
        f"/api/v1/tasks/{task.pk}/", {"subject": "mine"}, format="json", HTTP_IF_MATCH=stale
    )

    assert response.status_code == 412
    assert response.json()["detail"].startswith("The record was changed")
    task.refresh_from_db()
    assert task.subject == "someone else"


def test_delete_with_stale_etag_is_412(people: People) -> None:
    contact = make_contact(people.alice)

    response = client_for(people.alice).delete(
        f"/api/v1/contacts/{contact.pk}/", HTTP_IF_MATCH='"1-1"'
    )

    assert response.status_code == 412
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_if_none_match_answers_304(people: People) -> None:
    task = make_task(people.alice)
    client = client_for(people.alice)
    etag = client.get(f"/api/v1/tasks/{task.pk}/")["ETag"]

    response = client.get(f"/api/v1/tasks/{task.pk}/", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304


def test_delete_flags_the_mappings_for_the_sync_engine(people: People) -> None:
    appointment = make_appointment(people.alice)
    mapping = ExchangeSyncIdMapping.objects.create(
        mailbox=Mailbox.objects.get(user=people.alice),
        object_type=ItemType.APPOINTMENT,
        crm_content_type=ContentType.objects.get_for_model(Appointment),
        crm_object_id=appointment.pk,
        exchange_item_id="AAMkADEx",
    )

    response = client_for(people.alice).delete(f"/api/v1/appointments/{appointment.pk}/")

    assert response.status_code == 204
    assert not Appointment.objects.filter(pk=appointment.pk).exists()
    mapping.refresh_from_db()
    assert mapping.from_crm_change_type == ChangeType.DELETE


def test_send_email_creates_pending_send_in_the_callers_mailbox(people: People) -> None:
    mailbox = Mailbox.objects.get(user=people.alice)

    response = client_for(people.alice).post(
        "/api/v1/emails/",
        {"subject": "Hello", "body_text": "Hi Bob", "to": ["bob@example.test"], "cc": []},
        format="json",
    )

    assert response.status_code == 201, response.content
    email = Email.objects.get(pk=response.json()["id"])
    assert (email.status, email.direction, email.mailbox) == ("pending_send", "outgoing", mailbox)
    assert email.owner_user == people.alice
    assert email.change_origin == ChangeOrigin.API
    parties = {(p.role, p.address) for p in email.parties.all()}
    assert parties == {("from", "alice@example.test"), ("to", "bob@example.test")}
    assert response.json()["status"] == "pending_send"


def test_send_email_through_a_queue_mailbox(people: People) -> None:
    response = client_for(people.member).post(
        "/api/v1/emails/",
        {"subject": "Ticket", "to": ["c@example.test"], "send_from_queue": people.queue.pk},
        format="json",
    )

    assert response.status_code == 201, response.content
    email = Email.objects.get()
    assert email.mailbox == Mailbox.objects.get(queue=people.queue)
    assert email.owner_queue == people.queue


def test_send_email_through_a_foreign_queue_is_refused(people: People) -> None:
    response = client_for(people.stranger).post(
        "/api/v1/emails/",
        {"subject": "x", "to": ["c@example.test"], "send_from_queue": people.queue.pk},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["send_from_queue"]


def test_send_email_needs_a_recipient_and_outgoing_delivery(people: People) -> None:
    client = client_for(people.alice)
    no_recipient = client.post("/api/v1/emails/", {"subject": "x"}, format="json")
    Mailbox.objects.filter(user=people.alice).update(
        outgoing_delivery_method=OutgoingDeliveryMethod.NONE
    )
    outgoing_off = client.post("/api/v1/emails/", {"to": ["b@example.test"]}, format="json")

    assert no_recipient.status_code == 400
    assert list(no_recipient.json()) == ["to"]
    assert outgoing_off.status_code == 400
    assert "Outgoing email is turned off" in str(outgoing_off.json())
    assert not ActivityParty.objects.exists()


def test_emails_cannot_be_changed_or_deleted(people: People) -> None:
    response = client_for(people.alice).post(
        "/api/v1/emails/", {"to": ["b@example.test"]}, format="json"
    )
    url = f"/api/v1/emails/{response.json()['id']}/"

    assert client_for(people.alice).patch(url, {"subject": "x"}, format="json").status_code == 405
    assert client_for(people.alice).delete(url).status_code == 405


def test_accounts_are_read_only(people: People) -> None:
    response = client_for(people.alice).post("/api/v1/accounts/", {"name": "x"}, format="json")

    assert response.status_code == 405


@pytest.mark.parametrize(
    ("endpoint", "payload", "field"),
    [
        ("appointments", {"subject": "x", "start": END, "end": START}, "end"),
        ("appointments", {"subject": "x", "end": END}, "start"),
        ("appointments", {"start": "tomorrow", "end": END}, "start"),
        ("appointments", {"start": START, "end": END, "busy_status": "asleep"}, "busy_status"),
        ("tasks", {"percent_complete": 101}, "percent_complete"),
        ("tasks", {"status": "done-ish"}, "status"),
        ("tasks", {"subject": "x" * 501}, "subject"),
        ("tasks", {"regarding_type": "account"}, "regarding_id"),
        ("tasks", {"regarding_type": "account", "regarding_id": 2**70}, "regarding_id"),
        ("tasks", {"owner_queue": 123456}, "owner_queue"),
        ("tasks", {"owner_user": "abc"}, "owner_user"),
        ("tasks", {"subject": "nul \x00 byte"}, "subject"),
        ("tasks", {"due_date": "9999-12-31T23:59:59-05:00"}, "due_date"),
        ("tasks", {"due_date": "0001-01-01T00:00:00+05:00"}, "due_date"),
        ("contacts", {"first_name": ""}, "last_name"),
        ("contacts", {"last_name": "X", "email_address1": "not an email"}, "email_address1"),
        ("contacts", {"last_name": "X", "phone_numbers": ["x"]}, "phone_numbers"),
        ("contacts", {"last_name": "X", "addresses": {"home": "street"}}, "addresses"),
        ("contacts", {"last_name": "X", "birthday": "1815-02-30"}, "birthday"),
        ("emails", {"to": ["not-an-address"]}, "to"),
    ],
)
def test_validation_errors_are_json_naming_the_field(
    people: People, endpoint: str, payload: dict[str, Any], field: str
) -> None:
    response = client_for(people.alice).post(f"/api/v1/{endpoint}/", payload, format="json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert field in response.json()


def test_malformed_json_is_400(people: People) -> None:
    response = client_for(people.alice).generic(
        "POST", "/api/v1/tasks/", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_patch_end_before_stored_start_is_refused(people: People) -> None:
    appointment = make_appointment(people.alice, start=datetime(2030, 5, 4, 10, tzinfo=UTC))

    response = client_for(people.alice).patch(
        f"/api/v1/appointments/{appointment.pk}/", {"end": "2030-05-04T09:00:00Z"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["end"]


def test_forged_cursor_is_not_a_server_error(people: People) -> None:
    import base64

    make_task(people.alice)
    cursor = base64.b64encode(b"p=not-a-date&o=0").decode()

    response = client_for(people.alice).get(f"/api/v1/tasks/?cursor={cursor}")

    assert response.status_code in (400, 404)
