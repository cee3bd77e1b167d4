"""SMTP exactly once where it can be checked: an IMAP + SMTP mailbox keeps its sent copy in
the IMAP Sent folder and resolves a send whose outcome is unknown (a worker killed after
DATA, a connection dropped before the server's answer) by looking before any retry; a POP3 +
SMTP mailbox cannot look, and shows "may have been sent" instead of sending blindly. Real
peers: Dovecot and the SMTP server that delivers into it."""

from __future__ import annotations

import email as email_lib
import imaplib
import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from activities.api.serializers import EmailSerializer
from activities.models import Email
from mailboxes.connectors import TransientSyncError
from mailboxes.connectors.imap import ImapFolder, choose_sent_folder
from mailboxes.mail.cycle import send_pending
from mailboxes.mail.outgoing import mark_sent, send_again
from tests.mail.forked import send_in_child
from tests.servers.dovecot import PASSWORD


def sender_and_recipient(profile, make_mailbox, make_crm_email, **sender_fields):
    """Two mailboxes of the profile, and an email from the first to the second waiting to
    be sent."""
    sender = make_mailbox(profile, **sender_fields)
    recipient = make_mailbox(profile)
    email = make_crm_email(
        sender, to=recipient.email_address, subject="Offer", status=Email.Status.PENDING_SEND
    )
    return sender, recipient, email


def _folder(dovecot, address, folder="INBOX"):
    """(flags, message) of every message in the folder, read without changing it."""
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    client.login(address, PASSWORD)
    client.select(folder, readonly=True)
    _typ, data = client.uid("SEARCH", "ALL")
    found = []
    for uid in data[0].split():
        _typ, fetched = client.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
        found.append((fetched[0][0].decode(), email_lib.message_from_bytes(fetched[0][1])))
    client.logout()
    return found


def _kill_after_data(smtp_server, sender_pk, email_pk):
    """A worker sends, the server accepts and delivers the message, and the worker is
    killed while it waits for the server's answer."""
    before = len(smtp_server.deliveries)
    with smtp_server.misbehaving(reply_delay=5.0):
        pid = send_in_child(sender_pk)
        deadline = time.monotonic() + 20
        while len(smtp_server.deliveries) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(smtp_server.deliveries) == before + 1, "the server never got the message"
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert Email.objects.get(pk=email_pk).status == Email.Status.SENDING
    # The dead worker's claim expires.
    Email.objects.filter(pk=email_pk).update(send_claimed_at=timezone.now() - timedelta(hours=1))


def killed_after_data(
    profile, make_mailbox, make_crm_email, smtp_server, settings, **sender_fields
):
    """Two mailboxes of the profile and an email from the first to the second, which a
    worker sent and was killed while waiting for the server's answer (its 60 s send claim
    then expired)."""
    settings.CRMSYNC_SEND_CLAIM_SECONDS = 60
    sender, recipient, email = sender_and_recipient(
        profile, make_mailbox, make_crm_email, **sender_fields
    )
    _kill_after_data(smtp_server, sender.pk, email.pk)
    return sender, recipient, email


@pytest.mark.django_db
def test_imap_sent_copy_is_appended_seen_and_no_receipt_is_left(
    imap_profile, make_mailbox, make_crm_email, dovecot
):
    sender, recipient, email = sender_and_recipient(imap_profile, make_mailbox, make_crm_email)

    result = send_pending(sender)

    email.refresh_from_db()
    assert result.sent == 1 and email.status == Email.Status.SENT
    [(_flags, received)] = _folder(dovecot, recipient.email_address)
    assert received["Message-ID"] == email.message_id
    [(flags, copy)] = _folder(dovecot, sender.email_address, "Sent")
    assert copy["Message-ID"] == email.message_id and "\\Seen" in flags
    # The receipt the server's acceptance left in the sender's INBOX is gone again.
    assert _folder(dovecot, sender.email_address) == []


@pytest.mark.django_db(transaction=True)
def test_imap_worker_killed_after_data_is_resolved_in_sent_and_arrives_once(
    imap_profile, make_mailbox, make_crm_email, dovecot, smtp_server, settings
):
    sender, recipient, email = killed_after_data(
        imap_profile, make_mailbox, make_crm_email, smtp_server, settings
    )
    deliveries = len(smtp_server.deliveries)

    result = send_pending(sender)

    email.refresh_from_db()
    assert (result.found_already_sent, result.sent) == (1, 0)
    assert email.status == Email.Status.SENT and email.send_attempts == 2
    assert len(smtp_server.deliveries) == deliveries  # nothing sent again
    assert [m["Message-ID"] for _f, m in _folder(dovecot, recipient.email_address)] == [
        email.message_id
    ]
    [(flags, copy)] = _folder(dovecot, sender.email_address, "Sent")
    assert copy["Message-ID"] == email.message_id and "\\Seen" in flags
    assert _folder(dovecot, sender.email_address) == []


@pytest.mark.django_db
def test_imap_connection_dropped_after_data_is_resolved_on_the_retry(
    imap_profile, make_mailbox, make_crm_email, dovecot, smtp_server
):
    sender, recipient, email = sender_and_recipient(imap_profile, make_mailbox, make_crm_email)
    with smtp_server.misbehaving(drop_after_data=True), pytest.raises(TransientSyncError) as raised:
        send_pending(sender)
    assert raised.value.code == "send_outcome_unknown"
    email.refresh_from_db()
    assert email.status == Email.Status.PENDING_SEND and email.next_attempt_at is not None
    Email.objects.filter(pk=email.pk).update(next_attempt_at=None)
    deliveries = len(smtp_server.deliveries)

    result = send_pending(sender)

    email.refresh_from_db()
    assert (result.found_already_sent, result.sent) == (1, 0)
    assert email.status == Email.Status.SENT
    assert len(smtp_server.deliveries) == deliveries
    assert len(_folder(dovecot, recipient.email_address)) == 1
    assert len(_folder(dovecot, sender.email_address, "Sent")) == 1


@pytest.mark.django_db
def test_imap_retry_of_a_message_that_never_reached_the_server_sends_it(
    imap_profile, make_mailbox, make_crm_email, dovecot
):
    sender, recipient, email = sender_and_recipient(imap_profile, make_mailbox, make_crm_email)
    # A worker claimed it, fixed its identity and died before it connected.
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.SENDING,
        send_claimed_by="dead-worker",
        send_claimed_at=timezone.now() - timedelta(hours=1),
        send_attempts=1,
        message_id="<crmsync.never.sent@mail.test>",
    )

    result = send_pending(sender)

    assert (result.found_already_sent, result.sent) == (0, 1)
    assert len(_folder(dovecot, recipient.email_address)) == 1
    assert len(_folder(dovecot, sender.email_address, "Sent")) == 1


@pytest.mark.django_db
def test_a_late_receipt_is_removed_by_the_next_send_pass(
    imap_profile, make_mailbox, make_crm_email, dovecot
):
    sender, recipient, _first = sender_and_recipient(imap_profile, make_mailbox, make_crm_email)
    send_pending(sender)
    [(_flags, copy)] = _folder(dovecot, sender.email_address, "Sent")
    # A server that queues local delivery hands the receipt over after the pass ended.
    dovecot.deliver(sender.email_address, copy.as_bytes())
    # A message of the user's own to themself with a crmsync Message-ID stays.
    own = copy.as_bytes().replace(b"To: ", b"To: " + sender.email_address.encode() + b", ", 1)
    dovecot.deliver(sender.email_address, own)
    assert len(_folder(dovecot, sender.email_address)) == 2
    make_crm_email(sender, to=recipient.email_address, status=Email.Status.PENDING_SEND)

    assert send_pending(sender).sent == 1

    [(_flags, kept)] = _folder(dovecot, sender.email_address)
    assert sender.email_address in kept["To"]
    assert len(_folder(dovecot, sender.email_address, "Sent")) == 2


@pytest.mark.django_db
def test_a_server_that_saves_sent_copies_gets_no_receipt_and_no_append(
    imap_profile, make_mailbox, make_crm_email, dovecot, smtp_server
):
    imap_profile.smtp_saves_sent_copy = True
    imap_profile.save()
    sender = make_mailbox(imap_profile)
    email = make_crm_email(sender, to="someone@partner.test", status=Email.Status.PENDING_SEND)

    assert send_pending(sender).sent == 1

    email.refresh_from_db()
    [delivery] = [d for d in smtp_server.deliveries if email.message_id.encode() in d.data]
    assert delivery.rcpt_tos == ["someone@partner.test"]
    # The test server keeps no copy itself, so Sent stays empty: crmsync appended none.
    assert _folder(dovecot, sender.email_address, "Sent") == []


def test_the_sent_folder_is_found_by_special_use_then_by_name():
    flagged = [
        ImapFolder("Gesendet", ("\\HasNoChildren", "\\Sent"), "/"),
        ImapFolder("Sent", (), "/"),
    ]
    named = [ImapFolder("INBOX", (), "."), ImapFolder("INBOX.Sent", (), ".")]
    unselectable = [ImapFolder("Sent Items", ("\\Noselect",), "/")]

    assert choose_sent_folder(flagged) == "Gesendet"
    assert choose_sent_folder(named) == "INBOX.Sent"
    assert choose_sent_folder(unselectable) is None


# --- POP3 + SMTP: nothing to look in ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pop3_worker_killed_after_data_shows_may_have_been_sent_and_is_not_resent(
    pop3_profile, make_mailbox, make_crm_email, dovecot, smtp_server, settings
):
    sender, recipient, email = killed_after_data(
        pop3_profile, make_mailbox, make_crm_email, smtp_server, settings
    )
    deliveries = len(smtp_server.deliveries)

    result = send_pending(sender)

    email.refresh_from_db()
    assert (result.uncertain, result.sent) == (1, 0)
    assert email.status == Email.Status.UNCERTAIN
    assert email.get_status_display() == "May have been sent"
    assert len(smtp_server.deliveries) == deliveries
    assert len(_folder(dovecot, recipient.email_address)) == 1
    shown = EmailSerializer(email).data
    assert (shown["status"], shown["status_text"]) == ("uncertain", "May have been sent")
    assert shown["processing_error"].startswith("A worker stopped while it was sending")
    # Later passes leave it alone; a person's "send again" sends it (a second copy, by choice).
    assert send_pending(sender).sent == 0
    assert send_again(Email.objects.filter(pk=email.pk)) == 1
    assert send_pending(sender).sent == 1
    assert len(_folder(dovecot, recipient.email_address)) == 2


@pytest.mark.django_db
def test_pop3_connection_dropped_after_data_shows_may_have_been_sent(
    pop3_profile, make_mailbox, make_crm_email, dovecot, smtp_server
):
    sender, recipient, email = sender_and_recipient(pop3_profile, make_mailbox, make_crm_email)
    with smtp_server.misbehaving(drop_after_data=True), pytest.raises(TransientSyncError):
        send_pending(sender)

    email.refresh_from_db()
    assert email.status == Email.Status.UNCERTAIN
    assert "connection ended before the SMTP server answered" in email.processing_error
    assert send_pending(sender).sent == 0
    assert mark_sent(Email.objects.filter(pk=email.pk)) == 1
    email.refresh_from_db()
    assert email.status == Email.Status.SENT and email.sent_at is not None
    assert len(_folder(dovecot, recipient.email_address)) == 1
