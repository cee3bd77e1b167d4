"""Response objects (reply, reply all, forward, meeting accept/decline/tentative, cancel)
and the rule that a sent message needs a recipient, with exchangelib as the client."""

from __future__ import annotations

from pathlib import Path

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, Message
from exchangelib.errors import ErrorInvalidRecipients, ErrorItemNotFound
from exchangelib.items import AcceptItem
from exchangelib.properties import Attendee, Mailbox

from ews_emulator.control import ControlClient
from ews_emulator.testing import run_emulator
from tests.ews_emulator.conftest import PASSWORD, make_account
from tests.waiting import eventually, settled

UTC = EWSDateTime.from_string("2024-01-01T00:00:00Z").tzinfo


def arrived(account: Account, subject: str) -> Message:
    """The message of this subject in the account's Inbox, once delivered."""
    found = eventually(lambda: list(account.inbox.filter(subject=subject)), f"'{subject}'")
    return found[0]


def test_reply_reply_all_and_forward(account_factory: object) -> None:
    alice, bob, carol = account_factory(), account_factory(), account_factory()  # type: ignore[operator]
    Message(
        account=alice,
        subject="Plan",
        body="The plan",
        to_recipients=[bob.primary_smtp_address],
        cc_recipients=[carol.primary_smtp_address],
    ).send()
    received = arrived(bob, "Plan")
    received.reply(subject="RE: Plan", body="Agreed")
    reply = arrived(alice, "RE: Plan")
    assert reply.in_reply_to == received.message_id
    assert "Agreed" in reply.body and "The plan" in reply.body
    assert bob.sent.filter(subject="RE: Plan").count() == 1
    received.reply_all(subject="RE: Plan (all)", body="All")
    for whom in (alice, carol):
        arrived(whom, "RE: Plan (all)")
    assert alice.inbox.filter(subject="RE: Plan (all)").count() == 1
    # carol's copy arrived with alice's: none for the replying mailbox is coming
    assert bob.inbox.filter(subject="RE: Plan (all)").count() == 0
    draft = received.create_forward(
        subject="FW: Plan", body="FYI", to_recipients=[carol.primary_smtp_address]
    ).save(bob.drafts)
    assert draft.id and bob.drafts.get(subject="FW: Plan").is_draft
    received.forward(subject="FW: Plan", body="FYI", to_recipients=[carol.primary_smtp_address])
    eventually(lambda: carol.inbox.filter(subject="FW: Plan").count(), "forward")
    assert carol.inbox.filter(subject="FW: Plan").count() == 1


def test_meeting_responses_reach_the_organizer(account_factory: object) -> None:
    organizer, attendee = account_factory(), account_factory()  # type: ignore[operator]
    meeting = CalendarItem(
        account=organizer,
        folder=organizer.calendar,
        subject="Review",
        start=EWSDateTime(2024, 9, 2, 9, tzinfo=UTC),
        end=EWSDateTime(2024, 9, 2, 10, tzinfo=UTC),
        required_attendees=[attendee.primary_smtp_address],
    )
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    request = arrived(attendee, "Review")
    request.accept(body="See you")
    mine = attendee.calendar.get(subject="Review")
    assert mine.my_response_type == "Accept"
    assert attendee.inbox.filter(subject="Review").count() == 0
    answer = arrived(organizer, "Accepted: Review")
    assert type(answer).__name__ == "MeetingResponse"
    own = organizer.calendar.get(id=meeting.id)
    assert [a.response_type for a in own.required_attendees] == ["Accept"]
    mine.decline()
    assert attendee.calendar.filter(subject="Review").count() == 0
    arrived(organizer, "Declined: Review")
    own = organizer.calendar.get(id=meeting.id)
    assert [a.response_type for a in own.required_attendees] == ["Decline"]
    with pytest.raises(Exception, match="ReferenceItemId"):
        AcceptItem(account=attendee).send()


def test_cancel_meeting(account_factory: object) -> None:
    organizer, attendee = account_factory(), account_factory()  # type: ignore[operator]
    meeting = CalendarItem(
        account=organizer,
        folder=organizer.calendar,
        subject="Sync",
        start=EWSDateTime(2024, 9, 3, 9, tzinfo=UTC),
        end=EWSDateTime(2024, 9, 3, 10, tzinfo=UTC),
        required_attendees=[attendee.primary_smtp_address],
    )
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    arrived(attendee, "Sync")
    meeting.cancel()
    assert organizer.calendar.filter(subject="Sync").count() == 0
    arrived(attendee, "Canceled: Sync")
    assert [e.is_cancelled for e in attendee.calendar.filter(subject__contains="Sync")] == [True]
    # one cancellation, not one per way it was sent
    settled(ControlClient(organizer.protocol.service_endpoint))
    assert attendee.inbox.filter(subject="Canceled: Sync").count() == 1
    with pytest.raises(ErrorItemNotFound):
        meeting.cancel()
    alone = CalendarItem(
        account=organizer,
        folder=organizer.calendar,
        subject="Alone",
        start=EWSDateTime(2024, 9, 4, 9, tzinfo=UTC),
        end=EWSDateTime(2024, 9, 4, 10, tzinfo=UTC),
    ).save()
    with pytest.raises(ErrorInvalidRecipients):
        alone.cancel()


def test_send_needs_a_recipient(account: Account) -> None:
    with pytest.raises(ErrorInvalidRecipients):
        Message(account=account, subject="To nobody").send()
    Message(account=account, folder=account.drafts, subject="Draft without recipients").save()


def test_mail_is_delivered_asynchronously_by_default(account_factory: object) -> None:
    """Exchange's transport delivers after the send answers: a message to oneself is not in
    the Inbox when SendItem returns, and arrives a moment later."""
    account = account_factory()  # type: ignore[operator]
    Message(
        account=account,
        subject="Later",
        to_recipients=[Mailbox(email_address=account.primary_smtp_address)],
    ).send_and_save()
    assert account.inbox.filter(subject="Later").count() == 0
    assert account.sent.filter(subject="Later").count() == 1  # the sender's copy at once
    eventually(lambda: account.inbox.filter(subject="Later").count(), "delivered copy")


def test_a_stopping_emulator_delivers_what_it_holds(tmp_path: Path) -> None:
    """Sent mail is not lost when the emulator stops before the delay is over (Exchange's
    queues survive a restart): it is delivered on the way out."""
    users = [("late@example.com", PASSWORD)]
    with run_emulator(
        tmp_path / "ews.db", users=users, extra_args=["--delivery-delay-ms", "600000"]
    ) as ews:
        account = make_account(ews.ews_url, "late@example.com")
        Message(
            account=account,
            subject="Queued",
            to_recipients=[Mailbox(email_address="late@example.com")],
        ).send()
        assert account.inbox.filter(subject="Queued").count() == 0
    with run_emulator(tmp_path / "ews.db", users=users) as ews:
        account = make_account(ews.ews_url, "late@example.com")
        assert account.inbox.filter(subject="Queued").count() == 1


def test_meeting_messages_are_delivered_asynchronously(tmp_path: Path) -> None:
    """A meeting request, its response and its cancellation travel through transport like
    any message: none is in the recipient's mailbox when the sending call answers (nor the
    calendar entry the request makes), all are there after the delivery."""
    users = [("organizer@example.com", PASSWORD), ("guest@example.com", PASSWORD)]
    slow = ["--delivery-delay-ms", "600000"]
    with run_emulator(tmp_path / "ews.db", users=users, extra_args=slow) as ews:
        organizer = make_account(ews.ews_url, "organizer@example.com")
        guest = make_account(ews.ews_url, "guest@example.com")
        meeting = CalendarItem(
            account=organizer,
            folder=organizer.calendar,
            subject="Later",
            start=EWSDateTime(2024, 9, 5, 9, tzinfo=UTC),
            end=EWSDateTime(2024, 9, 5, 10, tzinfo=UTC),
            required_attendees=[
                Attendee(
                    mailbox=Mailbox(email_address=guest.primary_smtp_address),
                    response_type="Unknown",
                )
            ],
        )
        meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
        assert guest.inbox.all().count() == 0
        assert guest.calendar.all().count() == 0
        assert ews.control.pending_deliveries() == 1
    with run_emulator(tmp_path / "ews.db", users=users, extra_args=slow) as ews:
        guest = make_account(ews.ews_url, "guest@example.com")
        organizer = make_account(ews.ews_url, "organizer@example.com")
        assert [e.subject for e in guest.calendar.all()] == ["Later"]
        guest.inbox.get(subject="Later").accept()
        own = organizer.calendar.get(subject="Later")
        assert [a.response_type for a in own.required_attendees] == ["Unknown"]
        own.cancel()
        assert [e.is_cancelled for e in guest.calendar.all()] == [False]
        assert ews.control.pending_deliveries() == 2
    with run_emulator(tmp_path / "ews.db", users=users) as ews:
        guest = make_account(ews.ews_url, "guest@example.com")
        organizer = make_account(ews.ews_url, "organizer@example.com")
        assert [e.is_cancelled for e in guest.calendar.all()] == [True]
        answer = organizer.inbox.get(subject="Accepted: Later")
        assert type(answer).__name__ == "MeetingResponse"
