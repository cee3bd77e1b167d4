"""Email over Microsoft Graph against the emulator: incoming from the Inbox, a tracking folder
and Sent Items by delta, MIME kept raw, large attachments, the Undeliverable move; outgoing
exactly once through a stamped draft; a lost delta token and throttling."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from activities.models import Attachment, Email
from mailboxes.connectors import TransientSyncError
from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.graph.mail import STAMP_PROPERTY
from mailboxes.connectors.settings import graph_settings
from mailboxes.mail.cycle import process_incoming, send_pending
from mailboxes.models import Mailbox, ProcessedMessage
from mailboxes.sync.cycle import run_cycle
from tests.factories import make_outgoing_email
from tests.mail.forked import send_in_child
from tests.mail.messages import build
from tests.waiting import delivered

pytestmark = pytest.mark.e2e


@pytest.fixture
def graph_mailbox(m365):
    def make(**fields) -> Mailbox:
        fields.setdefault("tracking_option", Mailbox.TrackingOption.ALL)
        box = m365.mailbox(**fields)
        return Mailbox.objects.select_related("profile", "user", "queue").get(pk=box.pk)

    return make


def client_of(mailbox: Mailbox) -> GraphClient:
    return GraphClient(graph_settings(None, mailbox))


def _queue(mailbox: Mailbox, to: str, subject: str = "Offer") -> Email:
    return make_outgoing_email(mailbox, to=to, subject=subject, body_text="Our offer.")


def _stamped_drafts(mailbox: Mailbox) -> list[dict]:
    expand = f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY}')"
    drafts = client_of(mailbox).get("mailFolders/drafts/messages", params={"$expand": expand})
    return [d for d in drafts["value"] if d.get("singleValueExtendedProperties")]


def _folder_ews_id(control, address: str, name: str) -> str:
    return next(f["id"] for f in control.folders(address) if f["name"] == name)


@pytest.mark.django_db
def test_graph_inbox_tracking_folder_and_sent_items_are_pulled_once(
    m365, graph_mailbox, make_tracking_folder, make_account
):
    control = m365.tenant.control
    mailbox = graph_mailbox()
    address = mailbox.email_address
    folder = client_of(mailbox).post("mailFolders/inbox/childFolders", {"displayName": "Deals"})
    assert folder is not None
    deals = make_account("deals@acme.test")
    make_tracking_folder(mailbox, folder["id"], deals)
    for n in range(3):
        control.deliver(address, build(to=address, subject=f"in{n}"))
    control.deliver(
        address, build(subject="tracked"), folder=_folder_ews_id(control, address, "Deals")
    )
    control.deliver(
        address, build(sender=address, to="buyer@partner.test", subject="mine"), folder="sentitems"
    )

    first = process_incoming(mailbox)
    second = process_incoming(mailbox)
    control.deliver(address, build(to=address, subject="in3"))
    third = process_incoming(mailbox)

    assert (first.fetched, first.filed) == (5, 5)
    assert second.fetched == 0
    assert (third.fetched, third.filed) == (1, 1)
    emails = Email.objects.filter(mailbox=mailbox)
    assert sorted(emails.values_list("subject", flat=True)) == [
        "in0", "in1", "in2", "in3", "mine", "tracked"
    ]  # fmt: skip
    assert emails.get(subject="tracked").regarding_object_id == deals.pk
    mine = emails.get(subject="mine")
    assert (mine.direction, mine.status) == ("outgoing", "sent")
    assert all(e.conversation_id for e in emails.filter(subject__startswith="in"))
    assert ProcessedMessage.objects.filter(mailbox=mailbox, protocol="graph").count() == 6


@pytest.mark.django_db
def test_graph_mail_arrives_whole_with_a_large_attachment(m365, graph_mailbox):
    mailbox = graph_mailbox()
    # Above the 3 MB Graph allows in one attachment request: the MIME carries it whole. (The
    # emulator stores a message as XML whose text nodes lxml caps at 10 MB, about 7 MB of
    # message.)
    big = os.urandom(4 * 1024 * 1024)
    m365.tenant.control.deliver(
        mailbox.email_address,
        build(
            to=mailbox.email_address,
            cc=["carol@partner.test"],
            subject="Figures",
            body="The figures are attached.",
            attachments=[
                ("small.csv", "text/csv", b"q,revenue\n1,100\n"),
                ("big.bin", "application/octet-stream", big),
            ],
        ),
    )

    result = process_incoming(mailbox)

    assert (result.fetched, result.filed) == (1, 1)
    email = Email.objects.get(mailbox=mailbox)
    assert email.body_text.strip() == "The figures are attached."
    assert "carol@partner.test" in {p.address for p in email.parties.all()}
    files = {a.filename: a.file.read() for a in email.attachments.all()}
    assert files == {"small.csv": b"q,revenue\n1,100\n", "big.bin": big}


@pytest.mark.django_db
def test_graph_malformed_mime_is_kept_raw_with_a_clear_error(m365, graph_mailbox):
    mailbox = graph_mailbox()
    broken = (
        f"From: someone@outside.test\r\nTo: {mailbox.email_address}\r\nSubject: Broken\r\n"
        "Message-ID: <broken-1@outside.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "SGVsbG8gd29ybGQ!!!*not base64*\r\n"
    ).encode()
    m365.tenant.control.deliver(mailbox.email_address, broken)

    result = process_incoming(mailbox)

    email = Email.objects.get(mailbox=mailbox)
    assert result.filed == 1 and email.subject == "Broken"
    assert "base64" in email.processing_error.lower()
    assert email.raw_mime.read() == broken


@pytest.mark.django_db
def test_graph_unfilable_message_moves_to_undeliverable(m365, graph_mailbox):
    profile = m365.profile(move_undelivered_emails=True)
    forward_box = graph_mailbox(profile=profile, is_forward_mailbox=True)
    m365.tenant.control.deliver(
        forward_box.email_address, build(sender="nobody@x.test", subject="FW: ?")
    )

    result = process_incoming(forward_box)

    assert (result.failed, result.moved_to_undeliverable) == (1, 1)
    assert Email.objects.get(mailbox=forward_box).raw_mime
    control = m365.tenant.control
    undeliverable = _folder_ews_id(control, forward_box.email_address, "Undeliverable")
    assert [i["subject"] for i in control.items(forward_box.email_address, undeliverable)] == [
        "FW: ?"
    ]
    assert control.items(forward_box.email_address, "inbox") == []


@pytest.mark.django_db
def test_graph_outgoing_is_sent_from_a_stamped_draft_and_read_back(m365, graph_mailbox):
    sender = graph_mailbox()
    recipient = graph_mailbox()
    email = _queue(sender, recipient.email_address)

    result = send_pending(sender)

    email.refresh_from_db()
    assert result.sent == 1 and email.status == "sent"
    sent = client_of(sender).get(
        "mailFolders/sentitems/messages",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY}')"},
    )["value"]
    assert [m["internetMessageId"] for m in sent] == [email.message_id]
    assert sent[0]["singleValueExtendedProperties"][0]["value"] == str(email.pk)
    assert client_of(sender).get("mailFolders/drafts/messages")["value"] == []
    delivered(m365.tenant.control, recipient.email_address)
    received = process_incoming(recipient)
    assert received.filed == 0 and received.linked == 1  # the same activity, both parties


@pytest.mark.django_db
def test_graph_send_that_failed_after_the_draft_sends_the_draft_not_a_second_message(
    m365, graph_mailbox, settings
):
    sender = graph_mailbox()
    recipient = graph_mailbox()
    email = _queue(sender, recipient.email_address)
    m365.tenant.control.inject_graph_fault("graph_503", path="/send", mailbox=sender.email_address)

    with pytest.raises(TransientSyncError):  # the cycle postpones the mailbox
        send_pending(sender)
    assert Email.objects.get(pk=email.pk).status == "pending_send"
    assert len(m365.tenant.control.items(sender.email_address, "drafts")) == 1
    Email.objects.filter(pk=email.pk).update(next_attempt_at=None)
    second = send_pending(sender)

    email.refresh_from_db()
    assert (second.found_already_sent, second.sent) == (1, 0)
    assert email.status == "sent" and email.send_attempts == 2
    control = m365.tenant.control
    assert len(delivered(control, recipient.email_address)) == 1
    assert control.items(sender.email_address, "drafts") == []
    assert len(control.items(sender.email_address, "sentitems")) == 1


@pytest.mark.django_db
def test_graph_outgoing_attachment_too_large_for_one_request_is_uploaded_in_ranges(
    m365, graph_mailbox
):
    sender = graph_mailbox()
    recipient = graph_mailbox()
    email = _queue(sender, recipient.email_address)
    big = os.urandom(4 * 1024 * 1024)  # its MIME alone is above Graph's 4 MB per request
    Attachment.objects.create(
        email=email,
        filename="plans.bin",
        content_type="application/octet-stream",
        file=ContentFile(big, name="plans.bin"),
        size=len(big),
    )

    result = send_pending(sender)

    assert result.sent == 1
    delivered(m365.tenant.control, recipient.email_address)
    (received,) = client_of(recipient).get("mailFolders/inbox/messages")["value"]
    mime = client_of(recipient).get_bytes(f"messages/{received['id']}/$value")
    parsed = message_from_bytes(mime, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    files = {p.get_filename(): p.get_content() for p in parsed.iter_attachments()}
    assert files == {"plans.bin": big}
    assert parsed["Message-ID"] == Email.objects.get(pk=email.pk).message_id


@pytest.mark.django_db
def test_graph_draft_a_worker_left_unstamped_is_removed_and_the_email_sent_once(
    m365, graph_mailbox
):
    sender = graph_mailbox()
    recipient = graph_mailbox()
    email = _queue(sender, recipient.email_address)
    control = m365.tenant.control
    # The stamp (the PATCH after the draft is made) fails: the draft is left unstamped.
    control.inject_graph_fault("graph_503", path="messages/", mailbox=sender.email_address)

    with pytest.raises(TransientSyncError):
        send_pending(sender)
    assert len(control.items(sender.email_address, "drafts")) == 1
    Email.objects.filter(pk=email.pk).update(next_attempt_at=None)
    second = send_pending(sender)

    assert (second.sent, second.found_already_sent) == (1, 0)
    assert len(delivered(control, recipient.email_address)) == 1
    assert control.items(sender.email_address, "drafts") == []
    assert len(control.items(sender.email_address, "sentitems")) == 1


@pytest.mark.django_db(transaction=True)
def test_graph_worker_killed_mid_send_then_retried_sends_once(m365, graph_mailbox, settings):
    settings.CRMSYNC_SEND_CLAIM_SECONDS = 1
    sender = graph_mailbox()
    recipient = graph_mailbox()
    email = _queue(sender, recipient.email_address)
    # The server takes its time with the send, and completes it when the client is gone.
    m365.tenant.control.inject_graph_fault(
        "graph_delay", path="/send", mailbox=sender.email_address, delay_ms=1500
    )

    pid = send_in_child(sender.pk)
    deadline = time.monotonic() + 20
    while Email.objects.get(pk=email.pk).status != "sending" and time.monotonic() < deadline:
        time.sleep(0.05)
    control = m365.tenant.control
    while not _stamped_drafts(sender) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the send request is on the wire (killed before it: the same outcome)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    time.sleep(1.5)  # the server finishes the send
    Email.objects.filter(pk=email.pk).update(send_claimed_at=timezone.now() - timedelta(seconds=5))
    assert Email.objects.get(pk=email.pk).status == "sending"

    result = send_pending(sender)

    email.refresh_from_db()
    assert (result.found_already_sent, result.sent) == (1, 0)
    assert email.status == "sent" and email.send_attempts == 2
    assert len(delivered(control, recipient.email_address)) == 1


@pytest.mark.django_db
def test_graph_lost_delta_token_resyncs_without_filing_twice(m365, graph_mailbox):
    mailbox = graph_mailbox()
    control = m365.tenant.control
    for n in range(3):
        control.deliver(mailbox.email_address, build(to=mailbox.email_address, subject=f"e{n}"))
    process_incoming(mailbox)
    control.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="e3"))
    control.inject_graph_fault("graph_410", path="messages/delta", mailbox=mailbox.email_address)

    result = process_incoming(mailbox)

    assert (result.fetched, result.filed) == (1, 1)
    subjects = sorted(Email.objects.filter(mailbox=mailbox).values_list("subject", flat=True))
    assert subjects == ["e0", "e1", "e2", "e3"]
    assert process_incoming(mailbox).fetched == 0


@pytest.mark.django_db
def test_graph_throttling_postpones_the_mailbox_by_retry_after(m365, graph_mailbox):
    mailbox = graph_mailbox(next_due_at=None)
    control = m365.tenant.control
    control.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="later"))
    control.inject_graph_fault(
        "graph_429", path="messages/delta", mailbox=mailbox.email_address, count=5, retry_after=120
    )
    before = timezone.now()

    result = run_cycle(mailbox.pk, respect_limit=False)

    mailbox.refresh_from_db()
    assert result.ran
    assert mailbox.incoming_status != "failure" and mailbox.last_error_kind == "throttled"
    assert mailbox.incoming_postpone_until >= before + timedelta(seconds=119)
    assert not Email.objects.filter(mailbox=mailbox).exists()
