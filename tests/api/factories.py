"""Small factories for the API and self-service tests: plain functions, explicit fields."""

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from django.utils import timezone

from activities.models import Account, ActivityParty, Appointment, Contact, Email, Task
from mailboxes.models import Queue
from users.models import User

_sequence = count(1)


def make_queue(owner: User, *, members: tuple[User, ...] = (), **fields: Any) -> Queue:
    number = next(_sequence)
    fields.setdefault("name", f"queue{number}")
    fields.setdefault("email_address", f"queue{number}@example.test")
    queue = Queue.objects.create(owner=owner, **fields)
    queue.members.add(*members)
    return queue


def _owner_fields(owner: User | Queue) -> dict[str, Any]:
    if isinstance(owner, Queue):
        return {"owner_queue": owner}
    return {"owner_user": owner}


def make_appointment(
    owner: User | Queue, *, start: datetime | None = None, **fields: Any
) -> Appointment:
    start = start or timezone.now() + timedelta(days=1)
    fields.setdefault("subject", f"Meeting {next(_sequence)}")
    fields.setdefault("end", start + timedelta(hours=1))
    return Appointment.objects.create(start=start, **_owner_fields(owner), **fields)


def make_task(owner: User | Queue, **fields: Any) -> Task:
    fields.setdefault("subject", f"Task {next(_sequence)}")
    return Task.objects.create(**_owner_fields(owner), **fields)


def make_email(owner: User | Queue, **fields: Any) -> Email:
    fields.setdefault("subject", f"Email {next(_sequence)}")
    fields.setdefault("direction", Email.Direction.INCOMING)
    fields.setdefault("status", Email.Status.RECEIVED)
    return Email.objects.create(**_owner_fields(owner), **fields)


def make_contact(owner: User | Queue, **fields: Any) -> Contact:
    number = next(_sequence)
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", f"Lovelace{number}")
    fields.setdefault("email_address1", f"ada{number}@example.test")
    return Contact.objects.create(**_owner_fields(owner), **fields)


def make_account(owner: User | Queue, **fields: Any) -> Account:
    fields.setdefault("name", f"Account {next(_sequence)}")
    return Account.objects.create(**_owner_fields(owner), **fields)


def add_party(activity: Email | Appointment, role: str, address: str) -> ActivityParty:
    field = "email" if isinstance(activity, Email) else "appointment"
    return ActivityParty.objects.create(**{field: activity}, role=role, address=address)
