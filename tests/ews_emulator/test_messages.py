"""Sending, MIME, attachments, copies, name resolution, id conversion, meetings."""

from __future__ import annotations

import email
import email.policy

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone, FileAttachment, Message
from exchangelib.errors import ErrorInvalidIdMalformed, ErrorNameResolutionNoResults
from exchangelib.properties import AlternateId

from ews_emulator.control import ControlClient
from tests.waiting import eventually, settled

UTC = EWSTimeZone("UTC")
RAW = (
    b"From: Grace Hopper <grace@example.org>\r\n"
    b"To: someone@example.org\r\n"
    b"Subject: Compiler notes\r\n"
    b"Message-ID: <notes-1@example.org>\r\n"
    b"In-Reply-To: <earlier@example.org>\r\n"
    b"References: <root@example.org> <earlier@example.org>\r\n"
    b"X-Custom: kept\r\n"
    b"Date: Tue, 05 Mar 2024 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Bugs were found.\r\n"
)


def test_send_and_save_copy_delivers_to_emulator_recipients(
    account_factory: object,
) -> None:
    sender = account_factory()  # type: ignore[operator]
    to, cc = account_factory(), account_factory()  # type: ignore[operator]
    message = Message(
        account=sender,
        subject="Offer",
        body="Please find the offer",
        to_recipients=[to.primary_smtp_address, "outside@example.org"],
        cc_recipients=[cc.primary_smtp_address],
    )
    message.send_and_save()
    sent = list(sender.sent.all())
    assert [(m.subject, m.is_draft) for m in sent] == [("Offer", False)]
    for recipient in (to, cc):

        def inbox(recipient: Account = recipient) -> list[Message]:
            return list(recipient.inbox.all())

        received = eventually(inbox, "delivered copy")
        assert [(m.subject, m.is_read, m.author.email_address) for m in received] == [
            ("Offer", False, sender.primary_smtp_address)
        ]
        assert received[0].message_id == sent[0].message_id
    assert sender.drafts.all().count() == 0


def test_send_only_keeps_no_copy(account_factory: object) -> None:
    sender, to = account_factory(), account_factory()  # type: ignore[operator]
    Message(
        account=sender, subject="Fire and forget", to_recipients=[to.primary_smtp_address]
    ).send(save_copy=False)
    assert sender.sent.all().count() == 0
    received = eventually(lambda: list(to.inbox.all()), "delivered copy")
    assert [m.subject for m in received] == ["Fire and forget"]


def test_draft_then_send(account_factory: object) -> None:
    sender, to = account_factory(), account_factory()  # type: ignore[operator]
    draft = Message(
        account=sender,
        folder=sender.drafts,
        subject="Draft first",
        to_recipients=[to.primary_smtp_address],
    )
    draft.save()
    draft.send()
    received = eventually(lambda: list(to.inbox.all()), "delivered copy")
    assert [m.subject for m in received] == ["Draft first"]
    assert sender.drafts.all().count() == 0
    assert [m.subject for m in sender.sent.all()] == ["Draft first"]


def test_mime_upload_round_trip(account: Account) -> None:
    message = Message(account=account, folder=account.inbox, mime_content=RAW)
    message.save()
    got = account.inbox.get(id=message.id)
    assert got.subject == "Compiler notes"
    assert (got.author.name, got.author.email_address) == ("Grace Hopper", "grace@example.org")
    assert got.message_id == "<notes-1@example.org>"
    assert got.in_reply_to == "<earlier@example.org>"
    assert got.references == "<root@example.org> <earlier@example.org>"
    assert got.body.strip() == "Bugs were found."
    assert got.datetime_sent == EWSDateTime(2024, 3, 5, 10, tzinfo=UTC)
    parsed = email.message_from_bytes(got.mime_content)
    assert parsed["X-Custom"] == "kept" and parsed["Subject"] == "Compiler notes"
    got.subject = "Compiler notes (edited)"
    got.save(update_fields=["subject"])
    edited = email.message_from_bytes(account.inbox.get(id=message.id).mime_content)
    assert edited["Subject"] == "Compiler notes (edited)" and edited["X-Custom"] == "kept"


def test_control_delivers_raw_mime(account: Account, control: ControlClient) -> None:
    delivered = control.deliver(account.primary_smtp_address, RAW)
    got = account.inbox.get(id=delivered["id"])
    assert (got.subject, got.is_read, got.message_id) == (
        "Compiler notes",
        False,
        "<notes-1@example.org>",
    )
    assert got.conversation_id.id


def test_attachments(account: Account) -> None:
    message = Message(account=account, folder=account.drafts, subject="With files")
    message.attach(FileAttachment(name="a.txt", content=b"alpha", content_type="text/plain"))
    message.save()
    got = account.drafts.get(id=message.id)
    assert got.has_attachments is True
    assert [(a.name, a.content) for a in got.attachments] == [("a.txt", b"alpha")]
    key_before = got.changekey
    got.attach(FileAttachment(name="b.bin", content=b"\x00\x01"))
    assert got.changekey != key_before
    again = account.drafts.get(id=message.id)
    assert sorted(a.name for a in again.attachments) == ["a.txt", "b.bin"]
    mime = email.message_from_bytes(again.mime_content, policy=email.policy.default)
    assert sorted(p.get_filename() or "" for p in mime.iter_attachments()) == ["a.txt", "b.bin"]
    again.detach([a for a in again.attachments if a.name == "a.txt"])
    final = account.drafts.get(id=message.id)
    assert [(a.name, a.content) for a in final.attachments] == [("b.bin", b"\x00\x01")]


def test_copy_item(account: Account) -> None:
    message = Message(account=account, folder=account.drafts, subject="Original", categories=["x"])
    message.save()
    copy_id = message.copy(account.inbox)
    copies = list(account.inbox.all())
    assert [(m.subject, m.categories) for m in copies] == [("Original", ["x"])]
    assert copies[0].id != message.id and copy_id is not None
    assert account.drafts.all().count() == 1


def test_resolve_names(account: Account, control: ControlClient) -> None:
    control.create_mailbox("zelda.resolve@example.com", "pw", display_name="Zelda Resolve")
    resolved = account.protocol.resolve_names(["zelda.resolve@example.com"])
    assert [(m.name, m.email_address) for m in resolved] == [
        ("Zelda Resolve", "zelda.resolve@example.com")
    ]
    found = account.protocol.resolve_names(["Zelda"])
    assert [m.email_address for m in found] == ["zelda.resolve@example.com"]
    missing = account.protocol.resolve_names(["nobody-at-all"])
    assert len(missing) == 1 and isinstance(missing[0], ErrorNameResolutionNoResults)


def test_convert_id(account: Account) -> None:
    message = Message(account=account, folder=account.drafts, subject="ids")
    message.save()
    source = AlternateId(id=message.id, format="EwsId", mailbox=account.primary_smtp_address)
    converted = list(account.protocol.convert_ids([source], destination_format="EwsLegacyId"))
    assert [(c.id, c.format) for c in converted] == [(message.id, "EwsLegacyId")]
    entry = AlternateId(id=message.id, format="EwsId", mailbox=account.primary_smtp_address)
    [entry_id] = account.protocol.convert_ids([entry], destination_format="EntryId")
    assert entry_id.format == "EntryId"
    broken = AlternateId(id="not base64!", format="EwsId", mailbox=account.primary_smtp_address)
    failed = list(account.protocol.convert_ids([broken], destination_format="EntryId"))
    assert isinstance(failed[0], ErrorInvalidIdMalformed)


def test_meeting_invitations(account_factory: object) -> None:
    organizer, attendee = account_factory(), account_factory()  # type: ignore[operator]
    meeting = CalendarItem(
        account=organizer,
        folder=organizer.calendar,
        subject="Kick-off",
        start=EWSDateTime(2024, 9, 2, 9, tzinfo=UTC),
        end=EWSDateTime(2024, 9, 2, 10, tzinfo=UTC),
        required_attendees=[attendee.primary_smtp_address],
    )
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    own = organizer.calendar.get(id=meeting.id)
    assert own.meeting_request_was_sent is True and own.my_response_type == "Organizer"
    requests = eventually(lambda: list(attendee.inbox.all()), "meeting request")
    assert [(type(r).__name__, r.subject) for r in requests] == [("MeetingRequest", "Kick-off")]
    entries = list(attendee.calendar.all())
    assert [(e.subject, e.uid, e.my_response_type) for e in entries] == [
        ("Kick-off", own.uid, "NoResponseReceived")
    ]
    silent = CalendarItem(
        account=organizer,
        folder=organizer.calendar,
        subject="Private",
        start=EWSDateTime(2024, 9, 3, 9, tzinfo=UTC),
        end=EWSDateTime(2024, 9, 3, 10, tzinfo=UTC),
        required_attendees=[attendee.primary_smtp_address],
    )
    silent.save(send_meeting_invitations="SendToNone")
    settled(ControlClient(organizer.protocol.service_endpoint))
    assert attendee.calendar.all().count() == 1
    meeting.delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    eventually(lambda: attendee.calendar.filter(is_cancelled=True).count(), "cancelled entry")
    entries = list(attendee.calendar.all())
    assert [(e.subject, e.is_cancelled) for e in entries] == [("Canceled: Kick-off", True)]


@pytest.mark.parametrize("mode", ["HardDelete", "SoftDelete", "MoveToDeletedItems"])
def test_delete_modes(account: Account, mode: str) -> None:
    message = Message(account=account, folder=account.drafts, subject=mode)
    message.save()
    {
        "HardDelete": message.delete,
        "SoftDelete": message.soft_delete,
        "MoveToDeletedItems": message.move_to_trash,
    }[mode]()
    assert account.drafts.all().count() == 0
    in_trash = [m.subject for m in account.trash.all()]
    assert in_trash == ([mode] if mode == "MoveToDeletedItems" else [])


def test_malformed_change_key_on_delete(account: Account) -> None:
    from exchangelib.errors import ErrorInvalidChangeKey

    items = [
        Message(account=account, folder=account.drafts, subject=f"ck {i}").save() for i in range(3)
    ]
    items[1].changekey = "XXX"
    results = account.bulk_delete(items)
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], ErrorInvalidChangeKey)


def test_export_and_upload_round_trip(account: Account) -> None:
    from exchangelib.errors import ErrorItemNotFound

    original = Message(account=account, folder=account.drafts, subject="Exported", body="Text")
    original.attach(FileAttachment(name="a.txt", content=b"abc"))
    original.save()
    gone = Message(account=account, folder=account.drafts, subject="Gone").save()
    gone_id = (gone.id, gone.changekey)
    gone.delete()
    exported, missing = account.export([original, gone_id])
    assert isinstance(exported, str) and isinstance(missing, ErrorItemNotFound)
    [(new_id, new_key)] = account.upload([(account.inbox, exported)])
    copy = account.inbox.get(id=new_id)
    assert new_id != original.id and copy.subject == "Exported" and copy.body == "Text"
    assert [a.name for a in copy.attachments] == ["a.txt"]
    [(same_id, newer_key)] = account.upload([(account.inbox, ((new_id, new_key), False, exported))])
    assert same_id == new_id and newer_key != new_key
