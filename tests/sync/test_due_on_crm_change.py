"""An email the CRM is to send is sent at the next dispatch: saving it (or "send again")
makes its sending mailbox due instead of leaving it to the idle back-off, which can be many
minutes on a quiet mailbox. A server's back-off for sending is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activities.models import Email
from mailboxes.mail.outgoing import send_again
from mailboxes.models import Mailbox
from tests.factories import make_mailbox, make_outgoing_email

pytestmark = pytest.mark.django_db


def _idle_mailbox(**fields: object) -> Mailbox:
    return make_mailbox(next_due_at=timezone.now() + timedelta(minutes=30), **fields)


def _due_in(mailbox: Mailbox) -> timedelta:
    mailbox.refresh_from_db(fields=["next_due_at"])
    assert mailbox.next_due_at is not None
    return mailbox.next_due_at - timezone.now()


def test_a_new_email_to_send_makes_its_mailbox_due() -> None:
    mailbox = _idle_mailbox()
    other = _idle_mailbox()
    make_outgoing_email(mailbox, to="someone@partner.example")
    assert _due_in(mailbox) <= timedelta(0)
    # Only the sending mailbox.
    assert _due_in(other) > timedelta(minutes=29)


def test_a_draft_or_a_sent_email_changes_nothing() -> None:
    mailbox = _idle_mailbox()
    make_outgoing_email(mailbox, to="someone@partner.example", status=Email.Status.DRAFT)
    make_outgoing_email(mailbox, to="someone@partner.example", status=Email.Status.SENT)
    assert _due_in(mailbox) > timedelta(minutes=29)


def test_a_server_back_off_for_sending_is_kept() -> None:
    later = timezone.now() + timedelta(minutes=10)
    mailbox = _idle_mailbox(outgoing_postpone_until=later)
    make_outgoing_email(mailbox, to="someone@partner.example")
    assert _due_in(mailbox) > timedelta(minutes=29)


def test_send_again_makes_the_sending_mailbox_due() -> None:
    mailbox = _idle_mailbox()
    email = make_outgoing_email(mailbox, to="someone@partner.example", status=Email.Status.FAILED)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=timezone.now() + timedelta(minutes=30))
    assert send_again(Email.objects.filter(pk=email.pk)) == 1
    email.refresh_from_db()
    assert email.status == Email.Status.PENDING_SEND
    assert _due_in(mailbox) <= timedelta(0)


def test_an_email_without_a_mailbox_makes_its_owners_mailbox_due() -> None:
    mailbox = _idle_mailbox()
    Email.objects.create(
        owner_user=mailbox.user,
        direction=Email.Direction.OUTGOING,
        status=Email.Status.PENDING_SEND,
        subject="From the owner",
    )
    assert _due_in(mailbox) <= timedelta(0)
