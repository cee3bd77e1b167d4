"""Folder-level tracking rules (IMAP folders), the forward mailbox."""

from __future__ import annotations

import pytest

from activities.models import Email
from mailboxes.mail.cycle import process_incoming
from mailboxes.models import Alert, Mailbox
from tests.factories import make_person
from tests.mail.messages import build

Option = Mailbox.TrackingOption


@pytest.mark.django_db
def test_mail_in_a_tracking_folder_is_tracked_regarding_the_rule(
    imap_profile, make_mailbox, make_account, make_tracking_folder, dovecot
):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    account = make_account("acme@client.test")
    make_tracking_folder(mailbox, "Acme", account)
    dovecot.deliver(mailbox.email_address, build(subject="in folder"), folder="Acme")
    dovecot.deliver(mailbox.email_address, build(subject="in inbox"))

    process_incoming(mailbox)

    email = Email.objects.get(mailbox=mailbox)
    assert email.subject == "in folder"
    assert email.regarding_object_id == account.pk


@pytest.mark.django_db
def test_manual_change_of_regarding_is_overwritten_at_the_next_sync(
    imap_profile, make_mailbox, make_account, make_tracking_folder, dovecot
):
    mailbox = make_mailbox(imap_profile)
    account = make_account("acme@client.test")
    other = make_account("other@client.test")
    make_tracking_folder(mailbox, "Acme", account)
    dovecot.deliver(mailbox.email_address, build(subject="tracked"), folder="Acme")
    process_incoming(mailbox)
    Email.objects.filter(mailbox=mailbox).update(regarding_object_id=other.pk)

    result = process_incoming(mailbox)

    assert result.regarding_reapplied == 1
    assert Email.objects.get(mailbox=mailbox).regarding_object_id == account.pk


@pytest.mark.django_db
def test_forwarded_attachment_is_filed_for_the_forwarding_user(
    imap_profile, make_mailbox, make_contact, dovecot
):
    forward_box = make_mailbox(imap_profile, is_forward_mailbox=True)
    agent = make_person(email="agent@crm.test")
    contact = make_contact("customer@client.test")
    original = build(sender="customer@client.test", to="agent@crm.test", subject="Need help")
    outer = build(
        sender="agent@crm.test",
        to=forward_box.email_address,
        subject="FW: Need help",
        attachments=[("original.eml", "message/rfc822", original)],
    )
    dovecot.deliver(forward_box.email_address, outer)

    process_incoming(forward_box)

    email = Email.objects.get()
    assert (email.owner_user_id, email.subject) == (agent.pk, "Need help")
    assert email.from_address == "customer@client.test"
    assert email.parties.get(role="from").contact_id == contact.pk


@pytest.mark.django_db
def test_inline_forward_is_rebuilt_from_the_quoted_headers(imap_profile, make_mailbox, dovecot):
    forward_box = make_mailbox(imap_profile, is_forward_mailbox=True)
    agent = make_person(email="agent2@crm.test")
    Mailbox.objects.filter(user=agent).update(tracking_option=Option.ALL)
    body = (
        "FYI\n\n-----Original Message-----\n"
        "From: Client Person [mailto:client@client.test]\n"
        "Sent: Monday, March 3, 2025 10:00 AM\n"
        "To: agent2@crm.test\n"
        "Subject: Invoice question\n\n"
        "Why is the invoice so high?\n"
    )
    dovecot.deliver(
        forward_box.email_address,
        build(sender=agent.email, to=forward_box.email_address, subject="FW: x", body=body),
    )

    process_incoming(forward_box)

    email = Email.objects.get()
    assert email.owner_user_id == agent.pk
    assert (email.subject, email.from_address) == ("Invoice question", "client@client.test")
    assert "invoice so high" in email.body_text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("option", "filed"), [(Option.RESPONSES_TO_CRM_EMAIL, False), (Option.ALL, True)]
)
def test_the_forwarding_users_tracking_option_decides(
    imap_profile, make_mailbox, dovecot, option, filed
):
    forward_box = make_mailbox(imap_profile, is_forward_mailbox=True, tracking_option=Option.ALL)
    agent = make_person(email=f"agent-{option}@crm.test")
    Mailbox.objects.filter(user=agent).update(tracking_option=option)
    original = build(sender="someone@client.test", to=agent.email, subject="Not a reply")
    outer = build(
        sender=agent.email,
        to=forward_box.email_address,
        subject="FW: Not a reply",
        attachments=[("original.eml", "message/rfc822", original)],
    )
    dovecot.deliver(forward_box.email_address, outer)

    result = process_incoming(forward_box)

    assert (result.filed, result.irrelevant) == ((1, 0) if filed else (0, 1))
    assert Email.objects.filter(owner_user=agent).count() == (1 if filed else 0)


@pytest.mark.django_db
def test_unknown_forwarder_is_reported_and_the_message_kept(imap_profile, make_mailbox, dovecot):
    forward_box = make_mailbox(imap_profile, is_forward_mailbox=True)
    dovecot.deliver(
        forward_box.email_address,
        build(sender="stranger@outside.test", to=forward_box.email_address, subject="FW: hi"),
    )

    result = process_incoming(forward_box)

    assert result.failed == 1
    alert = Alert.objects.get(mailbox=forward_box)
    assert alert.code == "unknown_forwarder" and "stranger@outside.test" in alert.message
    kept = Email.objects.get()
    assert kept.raw_mime and "not a CRM user" in kept.processing_error
