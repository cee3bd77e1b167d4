"""The mailbox claim outlives a call that waits on a mail server (the claim is shorter than
the connection timeout), a hung cycle's claim still expires, and an email held by a dead
worker is retried, with the exactly-once check, as soon as its claim expires. Real peers:
Dovecot, the SMTP server, PostgreSQL or SQLite."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from activities.models import Email
from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from mailboxes.models import Mailbox
from mailboxes.sync import scheduling
from mailboxes.sync.cycle import run_cycle
from mailboxes.sync.keeper import ClaimKeeper
from tests.mail.test_smtp_exactly_once import _folder, killed_after_data

EMAIL_ONLY = {
    "incoming_delivery_method": DeliveryMethod.SERVER_SIDE_SYNC,
    "outgoing_delivery_method": OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
    "act_delivery_method": ActDeliveryMethod.NONE,
}


@pytest.mark.django_db(transaction=True)
def test_the_claim_outlives_a_server_answer_slower_than_the_claim(
    imap_profile, make_mailbox, make_crm_email, smtp_server, settings
):
    # The claim (3 s) is shorter than one wait for the server (5 s, within the 20 s
    # connection timeout), as 90 s is shorter than the default 120 s timeout.
    settings.CRMSYNC_CLAIM_SECONDS = 3
    imap_profile.connection_timeout_ms = 20_000
    imap_profile.save()
    sender = make_mailbox(imap_profile, **EMAIL_ONLY)
    email = make_crm_email(sender, to="someone@partner.test", status=Email.Status.PENDING_SEND)
    before = len(smtp_server.deliveries)
    results = []

    def worker() -> None:
        try:
            results.append(run_cycle(sender.pk, respect_limit=False))
        finally:
            connections.close_all()

    with smtp_server.misbehaving(reply_delay=5.0):
        thread = threading.Thread(target=worker)
        thread.start()
        deadline = time.monotonic() + 20
        while len(smtp_server.deliveries) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        # The worker waits for the server's answer; its claim would have lapsed by now.
        time.sleep(4)
        taken = scheduling.claim_mailbox(sender.pk, respect_limit=False)
        thread.join(timeout=30)

    assert taken is None, "another worker took the mailbox while the first was sending"
    [result] = results
    assert result.ran and result.error is None and result.reason == ""
    email.refresh_from_db()
    assert email.status == Email.Status.SENT
    assert Mailbox.objects.get(pk=sender.pk).claimed_by == ""


@pytest.mark.django_db(transaction=True)
def test_a_cycle_that_makes_no_progress_lets_its_claim_expire(imap_profile, make_mailbox, settings):
    settings.CRMSYNC_CLAIM_SECONDS = 3
    mailbox = make_mailbox(imap_profile, **EMAIL_ONLY)
    claim = scheduling.claim_mailbox(mailbox.pk, respect_limit=False)
    assert claim is not None
    keeper = ClaimKeeper(claim, stall_seconds=1.0).start()
    try:
        time.sleep(5)
        taken = scheduling.claim_mailbox(mailbox.pk, respect_limit=False)
    finally:
        keeper.stop()

    assert taken is not None
    assert keeper.renewals == 0


@pytest.mark.django_db(transaction=True)
def test_an_email_held_by_a_dead_worker_is_retried_when_its_claim_expires_and_sent_once(
    imap_profile, make_mailbox, make_crm_email, dovecot, smtp_server, settings
):
    sender, recipient, email = killed_after_data(
        imap_profile, make_mailbox, make_crm_email, smtp_server, settings, **EMAIL_ONLY
    )
    # The dead worker's claim is 10 s old: 50 s to go.
    claimed_at = timezone.now() - timedelta(seconds=10)
    Email.objects.filter(pk=email.pk).update(send_claimed_at=claimed_at)
    Mailbox.objects.filter(pk=sender.pk).update(next_due_at=None)

    first = run_cycle(sender.pk, respect_limit=False)

    assert first.ran and first.error is None
    assert Email.objects.get(pk=email.pk).status == Email.Status.SENDING
    due = Mailbox.objects.get(pk=sender.pk).next_due_at
    assert due is not None
    # Due when the claim expires, not after the 5-minute poll interval or an idle back-off.
    assert claimed_at + timedelta(seconds=60) <= due <= claimed_at + timedelta(seconds=61)
    # The claim expires: the mailbox is due at that moment.
    Email.objects.filter(pk=email.pk).update(send_claimed_at=claimed_at - timedelta(seconds=60))
    Mailbox.objects.filter(pk=sender.pk).update(next_due_at=due - timedelta(seconds=60))
    assert Mailbox.objects.filter(scheduling.due_mailboxes(), pk=sender.pk).exists()
    deliveries = len(smtp_server.deliveries)

    second = run_cycle(sender.pk, respect_limit=False)

    assert second.ran and second.error is None
    email.refresh_from_db()
    assert email.status == Email.Status.SENT and email.send_attempts == 2
    assert len(smtp_server.deliveries) == deliveries
    assert len(_folder(dovecot, recipient.email_address)) == 1
    assert len(_folder(dovecot, sender.email_address, "Sent")) == 1
