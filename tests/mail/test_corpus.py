"""The awkward-message corpus: every message is filed with its parts, or kept raw with an
error. Zero losses, through the parser and through the real IMAP server."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.models import Attachment, Email
from mailboxes.mail.cycle import process_incoming
from mailboxes.mail.filing import MailFiler
from mailboxes.mail.mime import parse_message
from mailboxes.models import Mailbox

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.eml"))


def _huge() -> bytes:
    line = b"The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    return (
        b"From: big@client.test\r\nTo: box@mail.test\r\nSubject: Huge body\r\n"
        b"Message-ID: <huge@client.test>\r\nDate: Thu, 6 Mar 2025 10:00:00 +0000\r\n\r\n"
        + line
        * (3 * 1024 * 1024 // len(line))
    )


@pytest.fixture
def mailbox(imap_profile, make_mailbox) -> Mailbox:
    return make_mailbox(imap_profile, tracking_option=Mailbox.TrackingOption.ALL)


def _assert_not_lost(email: Email, raw: bytes) -> None:
    parsed = parse_message(raw)
    if parsed.problems or email.processing_error:
        assert email.raw_mime, f"{email.subject!r}: problems but no raw MIME kept"
        assert email.processing_error
        with email.raw_mime.open("rb") as handle:
            assert handle.read() == raw
    else:
        has_content = email.body_text or email.body_html or email.attachments.exists()
        assert has_content or not raw.strip(), f"{email.subject!r}: nothing stored"


@pytest.mark.django_db
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_corpus_message_is_filed_or_kept_raw(path, mailbox):
    raw = path.read_bytes()

    outcome = MailFiler(mailbox).file(raw)

    assert outcome.outcome in ("filed", "failed")
    assert outcome.email is not None
    _assert_not_lost(outcome.email, raw)


@pytest.mark.django_db
def test_the_whole_corpus_through_imap_loses_nothing(mailbox, dovecot):
    raws = [p.read_bytes() for p in FILES] + [_huge()]
    for raw in raws:
        dovecot.deliver(mailbox.email_address, raw)

    result = process_incoming(mailbox)

    assert result.fetched == len(raws)
    assert result.filed + result.failed == len(raws)
    assert Email.objects.filter(mailbox=mailbox).count() == len(raws)


@pytest.mark.django_db
def test_wrong_and_missing_charsets_are_decoded(mailbox):
    filer = MailFiler(mailbox)
    wrong = filer.file((CORPUS / "wrong-charset-declared-utf8-is-cp1252.eml").read_bytes()).email
    missing = filer.file((CORPUS / "no-charset-8bit-body.eml").read_bytes()).email

    assert wrong is not None and "está pendiente" in wrong.body_text and "€" in wrong.body_text
    assert missing is not None and "Grüße aus München" in missing.body_text


@pytest.mark.django_db
def test_a_wrong_charset_label_is_shown_on_the_email_with_the_raw_message(mailbox):
    raw = (CORPUS / "wrong-charset-declared-utf8-is-cp1252.eml").read_bytes()

    outcome = MailFiler(mailbox).file(raw)

    email = outcome.email
    assert outcome.outcome == "filed" and email is not None
    assert "declared charset 'utf-8' did not fit; decoded as cp1252" in email.processing_error
    with email.raw_mime.open("rb") as handle:
        assert handle.read() == raw


@pytest.mark.django_db
def test_8bit_headers_and_encoded_words_are_decoded(mailbox):
    filer = MailFiler(mailbox)
    raw8 = filer.file((CORPUS / "raw-8bit-utf8-headers.eml").read_bytes()).email
    encoded = filer.file((CORPUS / "encoded-words-mixed.eml").read_bytes()).email

    assert raw8 is not None and raw8.subject == "Überweisung für März \u2013 bitte prüfen"
    assert raw8.parties.get(role="from").display_name == "Zoë Çelik"
    assert encoded is not None and encoded.subject == "Réunion € budget 日本語"
    assert encoded.parties.get(role="from").display_name == "François Müller"
    names = sorted(encoded.attachments.values_list("filename", flat=True))
    assert names == ["Présentation définitive.pdf", "notes à lire.txt"]


@pytest.mark.django_db
def test_nested_multiparts_keep_every_part(mailbox):
    email = MailFiler(mailbox).file((CORPUS / "nested-multiparts.eml").read_bytes()).email

    assert email is not None
    assert email.body_text.strip() == "Plain version"
    assert "HTML version" in email.body_html
    parts = {a.filename: a for a in email.attachments.all()}
    assert parts["data.csv"].file.read() == b"a,b\r\n1,2"
    inline = [a for a in parts.values() if a.content_id == "logo@x"]
    assert inline and inline[0].is_inline and inline[0].content_type == "image/png"
    assert any(a.file.read() == b"\x00\x01\x02\x03\x04" for a in parts.values())


@pytest.mark.django_db
def test_broken_base64_is_stored_with_an_error_and_the_raw_message(mailbox):
    email = MailFiler(mailbox).file((CORPUS / "broken-base64-attachment.eml").read_bytes()).email

    assert email is not None and email.raw_mime
    assert "Base64" in email.processing_error
    attachment = email.attachments.get(filename="scan.pdf")
    assert "may be damaged" in attachment.error


@pytest.mark.django_db
def test_missing_headers_still_make_an_email(mailbox):
    outcome = MailFiler(mailbox).file((CORPUS / "missing-date-from-message-id.eml").read_bytes())

    email = outcome.email
    assert outcome.outcome == "filed" and email is not None
    assert email.subject == "Who sent this" and email.from_address == ""
    assert email.message_id.endswith("@crmsync.generated.invalid>")
    assert email.received_at is not None


@pytest.mark.django_db
def test_tnef_attachments_are_extracted_and_winmail_dat_kept(mailbox):
    email = MailFiler(mailbox).file((CORPUS / "tnef-winmail-dat.eml").read_bytes()).email

    assert email is not None
    names = set(email.attachments.values_list("filename", flat=True))
    assert "winmail.dat" in names
    pytest.importorskip("tnefparse")
    report = email.attachments.get(filename="report.txt")
    assert report.file.read() == b"Quarterly numbers: 42\n"


@pytest.mark.django_db
def test_calendar_invitation_keeps_the_ics(mailbox):
    email = MailFiler(mailbox).file((CORPUS / "calendar-invitation.eml").read_bytes()).email

    assert email is not None and email.body_text.strip() == "You are invited."
    calendars = email.attachments.filter(filename__endswith=".ics")
    assert calendars.count() == 2
    assert all(b"BEGIN:VCALENDAR" in a.file.read() for a in calendars)


@pytest.mark.django_db
def test_huge_body_is_stored_whole(mailbox):
    raw = _huge()

    email = MailFiler(mailbox).file(raw).email

    assert email is not None and len(email.body_text) > 3_000_000


@pytest.mark.django_db
def test_attachment_over_the_limit_is_kept_as_metadata_with_an_error(mailbox, settings):
    from tests.mail.messages import build

    settings.CRMSYNC_MAX_ATTACHMENT_BYTES = 1000
    raw = build(attachments=[("big.bin", "application/octet-stream", b"x" * 5000)])

    email = MailFiler(mailbox).file(raw).email

    attachment = Attachment.objects.get(email=email)
    assert (attachment.filename, attachment.size) == ("big.bin", 5000)
    assert not attachment.file and "over the limit" in attachment.error


@pytest.mark.django_db
def test_nul_bytes_do_not_break_storage(mailbox):
    email = MailFiler(mailbox).file((CORPUS / "nul-bytes-and-bare-lf.eml").read_bytes()).email

    assert email is not None and "\x00" not in email.body_text and "before" in email.body_text
