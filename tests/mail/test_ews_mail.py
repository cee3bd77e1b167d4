"""Email over EWS against the emulator: incoming Inbox and tracking folders, outgoing with a
copy in Sent Items, and a worker killed mid-send that must not send twice."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from activities.models import Email
from mailboxes.connectors.ews import account_for
from mailboxes.mail.cycle import process_incoming, send_pending
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests.factories import make_outgoing_email, make_person
from tests.mail.forked import send_in_child
from tests.mail.messages import build
from tests.waiting import delivered

PASSWORD = "ews-secret"


@pytest.fixture
def ews_profile(make_profile, ews) -> EmailServerProfile:
    return make_profile(
        EmailServerProfile.ServerType.EXCHANGE,
        incoming_server_location=ews.ews_url,
        incoming_authentication_protocol="basic",
        outgoing_server_location=ews.ews_url,
        outgoing_authentication_protocol="basic",
    )


@pytest.fixture
def ews_mailbox(db, ews, ews_profile):
    def make(**extra) -> Mailbox:
        address = f"{uuid.uuid4().hex[:10]}@ews.test"
        ews.control.create_mailbox(address, PASSWORD)
        user = make_person(email=address)
        mailbox = Mailbox.objects.get(user=user)
        for name, value in {
            "profile": ews_profile,
            "email_address": address,
            "username": address,
            "password": PASSWORD,
            "approval_status": Mailbox.ApprovalStatus.APPROVED,
            "approved_email_address": address,
            "tracking_option": Mailbox.TrackingOption.ALL,
            **extra,
        }.items():
            setattr(mailbox, name, value)
        mailbox.save()
        return Mailbox.objects.select_related("profile", "user", "queue").get(pk=mailbox.pk)

    return make


def _queue(mailbox, to, subject="Offer"):
    return make_outgoing_email(mailbox, to=to, subject=subject, body_text="Our offer.")


@pytest.mark.django_db
def test_ews_inbox_is_pulled_incrementally(ews, ews_mailbox):
    mailbox = ews_mailbox()
    for n in range(3):
        ews.control.deliver(mailbox.email_address, build(to=mailbox.email_address, subject=f"e{n}"))

    first = process_incoming(mailbox)
    second = process_incoming(mailbox)
    ews.control.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="e3"))
    third = process_incoming(mailbox)

    assert (first.fetched, first.filed) == (3, 3)
    assert second.fetched == 0
    assert (third.fetched, third.filed) == (1, 1)
    emails = Email.objects.filter(mailbox=mailbox)
    assert sorted(emails.values_list("subject", flat=True)) == ["e0", "e1", "e2", "e3"]
    assert all(e.conversation_id for e in emails)


@pytest.mark.django_db
def test_ews_email_arrives_whole_with_its_body_recipients_and_attachment(ews, ews_mailbox):
    # SyncFolderItems returns no body, recipients or attachments; the mail channel takes
    # them from the MIME fetched by GetItem.
    mailbox = ews_mailbox()
    body = "Dear team,\n" + "the figures of the quarter are attached. " * 40
    ews.control.deliver(
        mailbox.email_address,
        build(
            to=mailbox.email_address,
            cc=["carol@partner.test"],
            subject="Figures",
            body=body,
            attachments=[("figures.csv", "text/csv", b"q,revenue\n1,100\n")],
        ),
    )

    result = process_incoming(mailbox)

    assert (result.fetched, result.filed) == (1, 1)
    email = Email.objects.get(mailbox=mailbox)
    assert email.body_text.strip() == body.strip()
    assert "carol@partner.test" in {p.address for p in email.parties.all()}
    (attachment,) = email.attachments.all()
    assert attachment.filename == "figures.csv"
    assert attachment.file.read() == b"q,revenue\n1,100\n"


@pytest.mark.django_db
def test_ews_tracking_folder_sets_regarding_and_wins_over_manual_changes(
    ews, ews_mailbox, make_account, make_tracking_folder
):
    from exchangelib import Folder

    mailbox = ews_mailbox(tracking_option=Mailbox.TrackingOption.RESPONSES_TO_CRM_EMAIL)
    account = account_for(mailbox)
    folder = Folder(parent=account.inbox, name="Acme deals")
    folder.save()
    crm_account = make_account("deals@acme.test")
    other = make_account("other@acme.test")
    make_tracking_folder(mailbox, folder.id, crm_account)
    ews.control.deliver(mailbox.email_address, build(subject="tracked"), folder=folder.id)
    ews.control.deliver(mailbox.email_address, build(subject="untracked"))

    process_incoming(mailbox)
    email = Email.objects.get(mailbox=mailbox)
    Email.objects.filter(pk=email.pk).update(regarding_object_id=other.pk)
    again = process_incoming(mailbox)

    email.refresh_from_db()
    assert email.subject == "tracked"
    assert email.regarding_object_id == crm_account.pk and again.regarding_reapplied == 1


@pytest.mark.django_db
def test_ews_unfilable_message_moves_to_undeliverable_when_the_profile_says_so(
    ews, ews_mailbox, ews_profile
):
    ews_profile.move_undelivered_emails = True
    ews_profile.save()
    forward_box = ews_mailbox(is_forward_mailbox=True)
    ews.control.deliver(forward_box.email_address, build(sender="nobody@x.test", subject="FW: ?"))

    result = process_incoming(forward_box)

    assert (result.failed, result.moved_to_undeliverable) == (1, 1)
    assert Email.objects.get(mailbox=forward_box).raw_mime
    folders = {f["name"] for f in ews.control.folders(forward_box.email_address)}
    assert "Undeliverable" in folders


@pytest.mark.django_db
def test_ews_outgoing_is_sent_saved_in_sent_items_and_read_back(ews, ews_mailbox):
    sender = ews_mailbox()
    recipient = ews_mailbox()
    email = _queue(sender, recipient.email_address)

    result = send_pending(sender)

    email.refresh_from_db()
    assert result.sent == 1 and email.status == "sent"
    delivered(ews.control, recipient.email_address)
    received = process_incoming(recipient)
    assert received.filed == 0 and received.linked == 1  # the same activity, both parties
    assert email.parties.filter(user_id=recipient.user_id).exists()
    sent_items = [i for i in ews.control.items(sender.email_address, "sentitems")]
    assert [i["subject"] for i in sent_items] == [f"Offer {email.tracking_token}"]


@pytest.mark.django_db(transaction=True)
def test_ews_worker_killed_mid_send_then_retried_sends_once(ews, ews_mailbox, settings):
    settings.CRMSYNC_SEND_CLAIM_SECONDS = 1
    sender = ews_mailbox()
    recipient = ews_mailbox()
    email = _queue(sender, recipient.email_address)
    # The server takes its time with CreateItem, and completes it even when the client is gone.
    ews.control.inject_fault("delay", operation="CreateItem", delay_ms=1500)

    pid = send_in_child(sender.pk)
    deadline = time.monotonic() + 10
    while Email.objects.get(pk=email.pk).status != "sending" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the CreateItem request is on the wire
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    time.sleep(1.5)  # the server finishes the send
    Email.objects.filter(pk=email.pk).update(send_claimed_at=timezone.now() - timedelta(seconds=5))
    assert Email.objects.get(pk=email.pk).status == "sending"

    result = send_pending(sender)

    email.refresh_from_db()
    assert (result.found_already_sent, result.sent) == (1, 0)
    assert email.status == "sent" and email.send_attempts == 2
    assert len(delivered(ews.control, recipient.email_address)) == 1


@pytest.mark.django_db
def test_ews_mail_sent_from_outlook_is_filed_as_sent_and_a_crm_email_is_not_filed_twice(
    ews, ews_mailbox
):
    sender = ews_mailbox()
    crm_email = _queue(sender, "buyer@partner.test")
    send_pending(sender)
    ews.control.deliver(
        sender.email_address,
        build(sender=sender.email_address, to="buyer@partner.test", subject="From Outlook"),
        folder="sentitems",
    )

    result = process_incoming(sender)

    assert (result.fetched, result.filed, result.linked) == (2, 1, 1)
    from_outlook = Email.objects.get(mailbox=sender, subject="From Outlook")
    assert (from_outlook.direction, from_outlook.status) == ("outgoing", "sent")
    assert (
        Email.objects.filter(message_id=Email.objects.get(pk=crm_email.pk).message_id).count() == 1
    )
