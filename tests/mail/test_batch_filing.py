"""Filing a fetched batch in one transaction gives what filing one by one would give."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import IntegrityError

from activities.models import Attachment, Email
from mailboxes.mail.filing import MailFiler, MessageSource
from mailboxes.models import Mailbox, ProcessedMessage
from tests.mail.messages import build, new_message_id


def _source(uid: str) -> MessageSource:
    return MessageSource(protocol="imap", folder_id="INBOX", uid=uid, uid_validity=1)


@pytest.fixture
def mailbox(imap_profile, make_mailbox) -> Mailbox:
    return make_mailbox(imap_profile, tracking_option=Mailbox.TrackingOption.ALL)


@pytest.mark.django_db
def test_two_copies_in_one_batch_make_one_email(mailbox):
    raw = build(to=mailbox.email_address)

    outcomes = MailFiler(mailbox).file_many([(raw, _source("1")), (raw, _source("2"))])

    assert [o.outcome for o in outcomes] == ["filed", "linked"]
    email = Email.objects.get()
    assert [o.email for o in outcomes] == [email, email]
    assert ProcessedMessage.objects.filter(email=email).count() == 2


@pytest.mark.django_db
def test_a_reply_correlates_with_an_email_earlier_in_the_same_batch(
    imap_profile, make_mailbox, make_account, make_tracking_folder
):
    mailbox = make_mailbox(imap_profile, tracking_option=Mailbox.TrackingOption.ALL)
    account = make_account("acme@client.test")
    rule = make_tracking_folder(mailbox, "Acme", account)
    original_id = new_message_id()
    original = build(subject="Quote", message_id=original_id)
    reply = build(subject="RE: Quote", in_reply_to=original_id)
    in_folder = MessageSource(protocol="imap", folder_id="Acme", uid="1", tracking_folder=rule)

    outcomes = MailFiler(mailbox).file_many([(original, in_folder), (reply, _source("2"))])

    assert [o.outcome for o in outcomes] == ["filed", "filed"]
    assert outcomes[1].correlation == "in_reply_to"
    assert Email.objects.get(subject="RE: Quote").regarding_object_id == account.pk


@pytest.mark.django_db
def test_a_batch_that_cannot_be_written_is_filed_one_by_one(mailbox, settings):
    files = [("a.bin", "application/octet-stream", b"payload")]
    first = build(subject="first", attachments=files)
    second = build(subject="second", attachments=files)
    replayed = build(subject="replayed", attachments=files)
    # A row the caller should have skipped: the batch's bulk INSERT fails on it.
    ProcessedMessage.objects.create(
        mailbox=mailbox, protocol="imap", folder_id="INBOX", uid_validity=1, uid="3"
    )
    filer = MailFiler(mailbox)

    with pytest.raises(IntegrityError):
        filer.file_many([(first, _source("1")), (second, _source("2")), (replayed, _source("3"))])

    assert sorted(Email.objects.values_list("subject", flat=True)) == ["first", "second"]
    stored = sorted(
        p.relative_to(settings.MEDIA_ROOT).as_posix()
        for p in Path(settings.MEDIA_ROOT).rglob("*")
        if p.is_file()
    )
    # The rolled-back batch removed its files; only those of the rows written remain.
    assert stored == sorted(str(a.file.name) for a in Attachment.objects.all())
    assert len(stored) == 2
