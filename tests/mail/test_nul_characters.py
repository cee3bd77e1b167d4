"""Text with NUL characters is filed on every database (issue 15, part 3): no query passes a
NUL (PostgreSQL refuses it in text), the stored fields lose the NULs, the raw message keeps
them and the email's processing error says what changed. CI runs these on PostgreSQL."""

from __future__ import annotations

import pytest

from activities.models import Email
from mailboxes.mail.cycle import process_incoming
from mailboxes.mail.filing import MailFiler
from mailboxes.mail.mime import parse_message
from mailboxes.models import Mailbox

Option = Mailbox.TrackingOption


def reply_without_message_id(to: str) -> bytes:
    """A reply as some real-world clients send it: no Message-ID, NULs in its text."""
    return (
        b'From: "Cli\x00ent" <client@outside.test>\r\n'
        + f"To: {to}\r\n".encode()
        + b"Subject: RE: Contract\x00 renewal 2025\r\n"
        b"Date: Thu, 6 Mar 2025 10:00:00 +0000\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"Agreed\x00, see you.\r\n"
    )


@pytest.mark.django_db
def test_a_reply_without_message_id_and_with_nuls_is_filed_with_its_thread(
    imap_profile, make_mailbox, make_crm_email, dovecot
):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    parent = make_crm_email(mailbox, to="client@outside.test", subject="Contract renewal 2025")
    raw = reply_without_message_id(mailbox.email_address)

    outcome = MailFiler(mailbox).file(raw)

    assert outcome.outcome == "filed", outcome
    email = outcome.email
    assert email is not None and email.pk != parent.pk
    email.refresh_from_db()
    assert email.subject == "RE: Contract renewal 2025"
    assert email.body_text.strip() == "Agreed, see you."
    assert "\x00" not in email.subject + email.body_text
    assert email.parties.filter(display_name="Client").exists()
    assert "NUL characters removed from the headers From, Subject; text body" in (
        email.processing_error
    )
    with email.raw_mime.open("rb") as handle:
        assert handle.read() == raw


@pytest.mark.django_db
def test_nuls_through_the_imap_server_are_filed_not_kept_aside(imap_profile, make_mailbox, dovecot):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.ALL)
    dovecot.deliver(mailbox.email_address, reply_without_message_id(mailbox.email_address))

    result = process_incoming(mailbox)

    assert (result.fetched, result.filed, result.failed) == (1, 1, 0)
    email = Email.objects.get(mailbox=mailbox, direction="incoming")
    assert "\x00" not in email.subject + email.body_text


def test_a_message_without_nul_reports_nothing_removed():
    parsed = parse_message(
        b"From: a@b.test\r\nTo: c@d.test\r\nSubject: Plain\r\nMessage-ID: <x@b.test>\r\n\r\nHi\r\n"
    )

    assert not [p for p in parsed.problems if "NUL" in p]
