"""Outgoing CRM email over the real SMTP server, read back from the recipient over IMAP."""

from __future__ import annotations

import email as email_lib
import imaplib
import threading

import pytest
from django.core.files.base import ContentFile

from activities.models import Attachment, Email
from mailboxes.connectors import TransientSyncError
from mailboxes.mail.cycle import send_pending
from tests.factories import make_outgoing_email
from tests.servers.dovecot import PASSWORD


def _queue(mailbox, to, subject="Proposal", **extra):
    return make_outgoing_email(
        mailbox,
        to=to,
        subject=subject,
        body_text="Please find our proposal.",
        body_html="<p>Please find our <b>proposal</b>.</p>",
        **extra,
    )


def _read_inbox(dovecot, address):
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    client.login(address, PASSWORD)
    client.select("INBOX")
    _typ, data = client.uid("SEARCH", "ALL")
    messages = []
    for uid in data[0].split():
        _typ, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
        messages.append(email_lib.message_from_bytes(fetched[0][1]))
    client.logout()
    return messages


@pytest.mark.django_db
def test_pending_email_is_sent_with_token_and_message_id_and_read_back(
    imap_profile, make_mailbox, dovecot
):
    sender = make_mailbox(imap_profile)
    recipient = make_mailbox(imap_profile)
    email = _queue(sender, recipient.email_address)
    Attachment.objects.create(
        email=email,
        filename="price.txt",
        content_type="text/plain",
        file=ContentFile(b"42 EUR", name="price.txt"),
    )

    result = send_pending(sender)

    email.refresh_from_db()
    assert result.sent == 1
    assert email.status == Email.Status.SENT and email.sent_at is not None
    assert email.message_id.startswith("<") and email.tracking_token == f"CRM:{email.pk:07d}"
    [received] = _read_inbox(dovecot, recipient.email_address)
    assert received["Message-ID"] == email.message_id
    assert received["Subject"] == f"Proposal {email.tracking_token}"
    filenames = [part.get_filename() for part in received.walk() if part.get_filename()]
    assert filenames == ["price.txt"]


@pytest.mark.django_db
def test_reply_to_a_sent_email_is_correlated_back(imap_profile, make_mailbox, dovecot):
    from mailboxes.mail.cycle import process_incoming
    from mailboxes.models import Mailbox

    sender = make_mailbox(
        imap_profile, tracking_option=Mailbox.TrackingOption.RESPONSES_TO_CRM_EMAIL
    )
    client = make_mailbox(imap_profile)
    email = _queue(sender, client.email_address)
    send_pending(sender)
    email.refresh_from_db()
    from tests.mail.messages import build

    dovecot.deliver(
        sender.email_address,
        build(
            sender=client.email_address,
            to=sender.email_address,
            subject=f"RE: Proposal {email.tracking_token}",
            in_reply_to=email.message_id,
        ),
    )

    result = process_incoming(sender)

    assert result.filed == 1
    reply = Email.objects.get(direction="incoming", mailbox=sender)
    assert reply.tracking_token == email.tracking_token


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_email(imap_profile, make_mailbox, smtp_server):
    sender = make_mailbox(imap_profile)
    recipient = make_mailbox(imap_profile)
    emails = [_queue(sender, recipient.email_address, subject=f"n{n}") for n in range(20)]
    before = len(smtp_server.deliveries)
    results = []

    def work():
        from django.db import connection

        results.append(send_pending(sender))
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [e.message_id for e in Email.objects.filter(pk__in=[e.pk for e in emails])]
    delivered = [d for d in smtp_server.deliveries[before:]]
    assert sum(r.sent for r in results) == 20
    assert len(delivered) == 20
    assert len(set(ids)) == 20


@pytest.mark.django_db
def test_temporary_refusal_is_retried_later_with_back_off(
    imap_profile, make_mailbox, smtp_server, settings
):
    settings.CRMSYNC_SEND_RETRY_SECONDS = 60
    sender = make_mailbox(imap_profile)
    email = _queue(sender, "someone@mail.test")
    with (
        smtp_server.misbehaving(data_reply="451 4.3.0 try again later"),
        pytest.raises(TransientSyncError),
    ):
        send_pending(sender)

    email.refresh_from_db()
    assert email.status == Email.Status.PENDING_SEND
    assert email.send_attempts == 1 and email.next_attempt_at is not None
    message_id = email.message_id
    assert message_id
    # Not due yet: nothing happens.
    assert send_pending(sender).sent == 0
    Email.objects.filter(pk=email.pk).update(next_attempt_at=None)
    assert send_pending(sender).sent == 1
    email.refresh_from_db()
    assert (email.status, email.message_id, email.send_attempts) == ("sent", message_id, 2)


@pytest.mark.django_db
def test_permanent_refusal_fails_the_email_and_the_next_is_sent(
    imap_profile, make_mailbox, smtp_server
):
    sender = make_mailbox(imap_profile)
    bad = _queue(sender, "bad@mail.test")
    good = _queue(sender, "good@mail.test")
    smtp_server.handler.refuse["bad@mail.test"] = "550 5.1.1 no such user"
    try:
        result = send_pending(sender)
    finally:
        smtp_server.handler.refuse.clear()

    bad.refresh_from_db()
    good.refresh_from_db()
    assert (result.failed, result.sent) == (1, 1)
    assert bad.status == "failed" and "no such user" in bad.processing_error
    assert good.status == "sent"


@pytest.mark.django_db
def test_gives_up_after_the_maximum_attempts(imap_profile, make_mailbox, smtp_server, settings):
    settings.CRMSYNC_SEND_MAX_ATTEMPTS = 2
    sender = make_mailbox(imap_profile)
    email = _queue(sender, "x@mail.test")
    with smtp_server.misbehaving(data_reply="421 4.7.0 busy"):
        for _ in range(2):
            Email.objects.filter(pk=email.pk).update(next_attempt_at=None)
            with pytest.raises(TransientSyncError):
                send_pending(sender)

    email.refresh_from_db()
    assert email.status == "failed" and "gave up after 2 attempts" in email.processing_error


@pytest.mark.django_db
def test_stale_sending_claim_is_taken_over(imap_profile, make_mailbox, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.CRMSYNC_SEND_CLAIM_SECONDS = 60
    sender = make_mailbox(imap_profile)
    email = _queue(sender, "x@mail.test")
    Email.objects.filter(pk=email.pk).update(
        status="sending",
        send_claimed_by="dead-worker",
        send_claimed_at=timezone.now() - timedelta(minutes=5),
        send_attempts=1,
    )

    result = send_pending(sender)

    email.refresh_from_db()
    assert result.sent == 1 and email.status == "sent" and email.send_attempts == 2


@pytest.mark.django_db
def test_live_sending_claim_is_left_alone(imap_profile, make_mailbox):
    from django.utils import timezone

    sender = make_mailbox(imap_profile)
    email = _queue(sender, "x@mail.test")
    Email.objects.filter(pk=email.pk).update(
        status="sending", send_claimed_by="other", send_claimed_at=timezone.now()
    )

    assert send_pending(sender).sent == 0
    email.refresh_from_db()
    assert email.status == "sending"
