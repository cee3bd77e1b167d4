from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from django.test import Client

from mailboxes.models import Mailbox, Queue
from mailboxes.sync.eligibility import approve
from mailboxes.web.forms import MailboxSettingsForm, SyncOptionsFormSet
from profiles.models import EmailServerProfile
from tests.factories import SERVER_SIDE_SYNC, make_person, make_queue
from users.models import User


@dataclass
class Team:
    """Alice and Bob have their own mailboxes; Quinn owns the support queue, Molly is in it."""

    alice: User
    bob: User
    queue_owner: User
    member: User
    queue: Queue
    profile: EmailServerProfile

    @property
    def alice_mailbox(self) -> Mailbox:
        return Mailbox.objects.get(user=self.alice)

    @property
    def bob_mailbox(self) -> Mailbox:
        return Mailbox.objects.get(user=self.bob)

    @property
    def queue_mailbox(self) -> Mailbox:
        return Mailbox.objects.get(queue=self.queue)


@pytest.fixture
def team(db: None) -> Team:
    profile = EmailServerProfile.objects.create(
        name="Exchange on premises",
        server_type=EmailServerProfile.ServerType.EXCHANGE,
        incoming_server_location="https://mail.example.test/EWS/Exchange.asmx",
        incoming_credential_retrieval=EmailServerProfile.CredentialRetrieval.PER_MAILBOX,
        outgoing_credential_retrieval=EmailServerProfile.CredentialRetrieval.PER_MAILBOX,
    )
    queue_owner = make_person("quinn")
    member = make_person("molly")
    team = Team(
        alice=make_person("alice", first_name="Alice"),
        bob=make_person("bob"),
        queue_owner=queue_owner,
        member=member,
        queue=make_queue(queue_owner, members=(member,), name="Support", **SERVER_SIDE_SYNC),
        profile=profile,
    )
    Mailbox.objects.update(profile=profile)
    return team


def approved(mailbox: Mailbox) -> Mailbox:
    """Approve the mailbox and its current address, as an administrator does."""
    approve(mailbox)
    mailbox.save()
    return mailbox


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def settings_post(mailbox: Mailbox, **overrides: Any) -> dict[str, Any]:
    """What the browser sends when the settings form is submitted unchanged, plus overrides."""
    mailbox.refresh_from_db()
    data: dict[str, Any] = {}
    form = MailboxSettingsForm(instance=mailbox)
    for name, field in form.fields.items():
        value = form[name].value()
        if field.widget.input_type == "checkbox":
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    if mailbox.queue_id is None:
        formset = SyncOptionsFormSet(
            queryset=mailbox.sync_options.order_by("item_type"), prefix="options"
        )
        for key, value in formset.management_form.initial.items():
            data[f"options-{key}"] = value
        for options_form in formset:
            for name, field in options_form.fields.items():
                value = options_form[name].value()
                key = options_form.add_prefix(name)
                if getattr(field.widget, "input_type", None) == "checkbox":
                    if value:
                        data[key] = "on"
                elif value is not None:
                    data[key] = field.prepare_value(value) if name != "id" else value
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


class RecordedTask:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def delay(self, *args: Any) -> None:
        self.calls.append(args)


@pytest.fixture
def recorded_tasks(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The one seam: the task module, so that pressing a button enqueues nothing real."""
    module = ModuleType("mailboxes.tasks")
    module.test_and_enable_mailbox = RecordedTask()  # type: ignore[attr-defined]
    module.sync_mailbox = RecordedTask()  # type: ignore[attr-defined]
    monkeypatch.setattr("mailboxes.web.actions.tasks", module)
    yield module


def url(mailbox: Mailbox, action: str = "") -> str:
    """A self-service page of the mailbox ("" its page, "sync" its Sync button, ...)."""
    return f"/mailboxes/{mailbox.pk}/{action}"
