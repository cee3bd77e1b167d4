"""Party resolution order; one activity for the same mail to a user and a queue."""

from __future__ import annotations

import pytest

from activities.models import ActivityParty, Email
from mailboxes.mail.cycle import process_incoming
from mailboxes.mail.parties import PartyResolver
from tests.factories import make_person
from tests.mail.messages import build, new_message_id


@pytest.mark.django_db
def test_resolution_order_is_user_then_contact_then_account(make_contact, make_account):
    user = make_person(email="shared@x.test")
    contact = make_contact("shared@x.test")
    make_account("shared@x.test")
    contact_only = make_contact("contact@x.test")
    make_account("contact@x.test")
    account = make_account("account@x.test")

    found = PartyResolver().resolve_many(
        ["Shared@X.test", "contact@x.test", "account@x.test", "raw@x.test"]
    )

    assert found["shared@x.test"].user_id == user.pk
    assert found["contact@x.test"].contact_id == contact_only.pk
    assert found["account@x.test"].account_id == account.pk
    assert found["raw@x.test"].kind == ""
    assert contact.pk != contact_only.pk


@pytest.mark.django_db
def test_contact_matches_on_any_of_its_three_addresses(make_contact):
    contact = make_contact("first@x.test", email_address3="third@x.test")

    assert PartyResolver().resolve("THIRD@x.test").contact_id == contact.pk


@pytest.mark.django_db
def test_parties_of_a_filed_email_are_resolved(
    imap_profile, make_mailbox, make_contact, make_account, dovecot
):
    mailbox = make_mailbox(imap_profile)
    contact = make_contact("carl@client.test")
    account = make_account("billing@client.test")
    raw = build(
        sender="Carl <carl@client.test>",
        to=[mailbox.email_address, "billing@client.test"],
        cc=["someone@raw.test"],
    )
    dovecot.deliver(mailbox.email_address, raw)

    process_incoming(mailbox)

    email = Email.objects.get(mailbox=mailbox)
    parties = {(p.role, p.address): p for p in email.parties.all()}
    assert parties[("from", "carl@client.test")].contact_id == contact.pk
    assert parties[("from", "carl@client.test")].display_name == "Carl"
    assert parties[("to", mailbox.email_address)].user_id == mailbox.user_id
    assert parties[("to", "billing@client.test")].account_id == account.pk
    raw_party = parties[("cc", "someone@raw.test")]
    assert (raw_party.user_id, raw_party.contact_id, raw_party.account_id) == (None, None, None)


@pytest.mark.django_db
def test_same_mail_to_a_user_and_a_queue_is_one_activity_with_both(
    imap_profile, make_mailbox, dovecot
):
    user_box = make_mailbox(imap_profile)
    queue_box = make_mailbox(imap_profile, queue_name="support")
    raw = build(
        sender="client@outside.test",
        to=[user_box.email_address, queue_box.email_address],
        message_id=new_message_id(),
    )
    dovecot.deliver(user_box.email_address, raw)
    dovecot.deliver(queue_box.email_address, raw)

    first = process_incoming(user_box)
    second = process_incoming(queue_box)

    assert (first.filed, second.linked) == (1, 1)
    email = Email.objects.get()
    recipients = email.parties.filter(role=ActivityParty.Role.TO)
    assert {p.user_id for p in recipients if p.user_id} == {user_box.user_id}
    assert {p.queue_id for p in recipients if p.queue_id} == {queue_box.queue_id}


@pytest.mark.django_db
def test_queue_reached_by_bcc_is_added_as_a_party(imap_profile, make_mailbox, dovecot):
    user_box = make_mailbox(imap_profile)
    queue_box = make_mailbox(imap_profile, queue_name="sales")
    raw = build(to=user_box.email_address, message_id=new_message_id())
    dovecot.deliver(user_box.email_address, raw)
    dovecot.deliver(queue_box.email_address, raw)

    process_incoming(queue_box)
    process_incoming(user_box)

    email = Email.objects.get()
    assert email.owner_queue_id == queue_box.queue_id
    assert email.parties.filter(user_id=user_box.user_id).exists()
    assert email.parties.filter(queue_id=queue_box.queue_id).exists()


@pytest.mark.django_db
def test_mail_to_a_queue_mailbox_belongs_to_the_queue(imap_profile, make_mailbox, dovecot):
    queue_box = make_mailbox(imap_profile, queue_name="help")
    dovecot.deliver(queue_box.email_address, build(to=queue_box.email_address))

    process_incoming(queue_box)

    email = Email.objects.get()
    assert (email.owner_queue_id, email.owner_user_id) == (queue_box.queue_id, None)
    members_view = Email.objects.filter(owner_queue__members=queue_box.queue.owner)
    queue_box.queue.members.add(queue_box.queue.owner)
    assert list(members_view) == [email]


@pytest.mark.django_db
def test_message_without_message_id_is_still_recognized_as_a_duplicate(imap_profile, make_mailbox):
    from mailboxes.mail.filing import MailFiler

    user_box = make_mailbox(imap_profile)
    queue_box = make_mailbox(imap_profile, queue_name="q")
    raw = (
        b"From: a@b.test\r\nTo: x@y.test\r\nSubject: no id\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n"
    )

    first = MailFiler(user_box).file(b"Received: from one\r\n" + raw)
    second = MailFiler(queue_box).file(b"Received: from two\r\n" + raw)

    assert (first.outcome, second.outcome) == ("filed", "linked")
    assert first.email is not None and first.email.message_id.endswith(".invalid>")
