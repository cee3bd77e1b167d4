"""Meetings (issue 16): attendees resolved as email parties are, and invitations only
where a person expects one (README, "Meeting invitations"), counted in the attendees'
emulator Inboxes, over EWS and over Microsoft Graph (`tests/sync/meeting_sides.py`).

Outlook is played by exchangelib (the organizer's or an attendee's own account) and by the
emulator's control API.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from activities.models import ActivityParty, Appointment
from mailboxes.mail.parties import PartyResolver
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox
from tests.factories import make_appointment, make_contact, make_user
from tests.sync.helpers import options, sync
from tests.sync.meeting_sides import (
    CANCELLATION,
    REQUEST,
    UPDATE,
    Side,
    at,
    meeting_with,
    move,
)

pytestmark = pytest.mark.django_db


# --- One party resolver ----------------------------------------------------------------------


def test_an_attendee_resolves_to_a_contact_stored_in_other_letter_case(side: Side) -> None:
    # given a contact stored with capitals, and a meeting in Outlook where it attends in lower case
    mailbox = side.mailbox()
    contact = make_contact(owner_user=mailbox.user, email_address2="Y@Partner.Example")
    side.outlook_meeting(mailbox, "Partner call", at(9), ("y@partner.example",))

    # when the mailbox syncs
    sync(mailbox)

    # then the attendee is the contact
    meeting = Appointment.objects.get(owner_user=mailbox.user, subject="Partner call")
    (party,) = meeting.parties.filter(role=ActivityParty.Role.REQUIRED_ATTENDEE)
    assert party.contact_id == contact.pk
    assert party.address == "y@partner.example"


def test_the_owners_own_contact_wins_a_shared_address_in_one_query(
    django_assert_num_queries,
) -> None:
    owner = make_user()
    someone_elses = make_contact(email_address1="Shared@Partner.Example")
    own = make_contact(owner_user=owner, email_address3="shared@partner.example")
    user = make_user(email="Colleague@Example.com")

    with django_assert_num_queries(1):
        found = PartyResolver(owner_user_id=owner.pk).resolve_many(
            ["SHARED@partner.example", "colleague@example.com", "nobody@example.com"]
        )

    assert found["shared@partner.example"].contact_id == own.pk
    assert found["colleague@example.com"].user_id == user.pk
    assert found["nobody@example.com"].kind == ""
    # without an owner the oldest contact wins
    assert PartyResolver().resolve("shared@partner.example").contact_id == someone_elses.pk


# --- Invitations -------------------------------------------------------------------------------


def test_the_first_sync_invites_nobody_and_later_changes_stay_silent(side: Side) -> None:
    # given a CRM meeting with a colleague, before the mailbox's first sync
    mailbox, colleague = side.mailbox(), side.attendee()
    meeting = meeting_with(mailbox, colleague, "Old review")

    # when the first sync exports it, and it later moves in the CRM
    sync(mailbox)
    move(meeting, 14)
    sync(mailbox)

    # then the meeting is in Exchange with its attendee, and the colleague, never invited,
    # hears of neither
    assert side.calendar(mailbox) == ["Old review"]
    assert ExchangeSyncIdMapping.objects.get(crm_object_id=meeting.pk).invited == []
    assert side.inbox(colleague) == []


def test_a_new_meeting_invites_once_and_its_update_and_cancellation_follow(side: Side) -> None:
    # given a mailbox past its first sync
    mailbox, colleague = side.mailbox(), side.attendee()
    sync(mailbox)

    # when a meeting is created in the CRM, synced twice, moved, then deleted
    meeting = meeting_with(mailbox, colleague, "Design review")
    sync(mailbox)
    sync(mailbox)
    assert side.inbox(colleague) == [(REQUEST, "Design review")]
    move(meeting, 14)
    sync(mailbox)
    assert side.inbox(colleague) == [(REQUEST, "Design review"), (UPDATE, "Design review")]
    meeting.delete()
    sync(mailbox)

    # then the colleague got the request, one update and one cancellation
    assert side.inbox(colleague) == [
        (CANCELLATION, "Canceled: Design review"),
        (REQUEST, "Design review"),
        (UPDATE, "Design review"),
    ]
    assert side.calendar(mailbox) == []


def test_deleting_a_meeting_nobody_was_sent_cancels_nothing(side: Side) -> None:
    mailbox, colleague = side.mailbox(), side.attendee()
    meeting = meeting_with(mailbox, colleague, "Quiet one")
    sync(mailbox)

    meeting.delete()
    sync(mailbox)

    assert side.inbox(colleague) == []
    assert side.calendar(mailbox) == []


def test_a_full_resync_exports_an_old_meeting_without_invitations(side: Side) -> None:
    # given a mailbox that synced with CRM → Exchange off, and a meeting made meanwhile
    mailbox, colleague = side.mailbox(), side.attendee()
    options(mailbox, ItemType.APPOINTMENT, crm_to_exchange=False)
    sync(mailbox)
    meeting_with(mailbox, colleague, "Never exported")
    sync(mailbox)

    # when CRM → Exchange is switched on (outside the mailbox page) and a full resync runs
    options(mailbox, ItemType.APPOINTMENT, crm_to_exchange=True)
    sync(mailbox, full_resync=True)

    # then the meeting is in Exchange and nobody was invited
    assert side.calendar(mailbox) == ["Never exported"]
    assert side.inbox(colleague) == []


def test_with_send_invitations_off_a_new_meeting_invites_nobody(side: Side) -> None:
    mailbox = side.mailbox(send_invitations=False)
    colleague = side.attendee()
    sync(mailbox)

    meeting = meeting_with(mailbox, colleague, "Unannounced")
    sync(mailbox)
    move(meeting, 15)
    sync(mailbox)
    meeting.delete()
    sync(mailbox)

    assert side.inbox(colleague) == []
    assert side.calendar(mailbox) == []


def held_sentences(mailbox: Mailbox, meeting: Appointment) -> list[str]:
    """What the owner's mailbox page and the appointment's admin page say is held back."""
    client = Client()
    assert mailbox.user is not None
    client.force_login(mailbox.user)
    page = client.get(f"/mailboxes/{mailbox.pk}/").content.decode()
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    admin_page = client.get(f"/admin/activities/appointment/{meeting.pk}/change/")
    if Appointment.objects.filter(pk=meeting.pk).exists():
        assert admin_page.status_code == 200
    found = []
    for mapping in ExchangeSyncIdMapping.objects.filter(
        mailbox=mailbox, last_error_code=ExchangeSyncIdMapping.MEETING_HELD
    ):
        text = escape(mapping.last_error_text)
        assert text in page
        if admin_page.status_code == 200:
            assert text in admin_page.content.decode()
        found.append(mapping.last_error_text)
    return found


def test_a_meeting_sent_before_the_option_went_off_gets_nothing_more(side: Side) -> None:
    # given a meeting its attendee was sent, then "send invitations" switched off
    mailbox, colleague = side.mailbox(), side.attendee()
    sync(mailbox)
    meeting = meeting_with(mailbox, colleague, "Sent earlier")
    sync(mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(send_invitations=False)

    # when it moves in the CRM
    move(meeting, 16)
    sync(mailbox)

    # then the attendee hears nothing: EWS writes the change silently; Graph, which cannot,
    # leaves the change out of Exchange and says so on the mailbox and appointment pages
    assert side.inbox(colleague) == [(REQUEST, "Sent earlier")]
    held = held_sentences(mailbox, meeting)
    client = Client()
    assert mailbox.user is not None
    client.force_login(mailbox.user)
    page = client.get(f"/mailboxes/{mailbox.pk}/").content.decode()
    said = "while this is off, such changes are held and listed on this page."
    if side.protocol == "graph":
        assert len(held) == 1 and held[0].startswith("Not written to Microsoft 365")
        assert said in page  # beside the option
    else:
        assert held == []
        assert said not in page

    # when it is deleted in the CRM: the same
    pk = meeting.pk
    meeting.delete()
    sync(mailbox)
    assert side.inbox(colleague) == [(REQUEST, "Sent earlier")]
    if side.protocol == "graph":
        assert side.calendar(mailbox) == ["Sent earlier"]
        (mapping,) = ExchangeSyncIdMapping.objects.filter(crm_object_id=pk)
        assert mapping.last_error_text.startswith("Not deleted in Microsoft 365")
    else:
        assert side.calendar(mailbox) == []

    # and once the option is back on, Graph sends the cancellation it held, once
    Mailbox.objects.filter(pk=mailbox.pk).update(send_invitations=True)
    sync(mailbox)
    sync(mailbox)
    expected = [(REQUEST, "Sent earlier")]
    if side.protocol == "graph":
        expected.insert(0, (CANCELLATION, "Canceled: Sent earlier"))
    assert side.inbox(colleague) == expected
    assert side.calendar(mailbox) == []
    assert not ExchangeSyncIdMapping.objects.filter(crm_object_id=pk).exists()


def test_a_meeting_sent_from_outlook_gets_the_crm_changes_and_an_unsent_one_does_not(
    side: Side,
) -> None:
    # given two meetings the mailbox organizes in Outlook: one sent, one saved unsent
    mailbox, colleague = side.mailbox(), side.attendee()
    side.outlook_meeting(mailbox, "Sent in Outlook", at(9), (colleague,), sent=True)
    side.outlook_meeting(mailbox, "Unsent in Outlook", at(12), (colleague,), sent=False)
    sync(mailbox)
    sent = Appointment.objects.get(owner_user=mailbox.user, subject="Sent in Outlook")
    unsent = Appointment.objects.get(owner_user=mailbox.user, subject="Unsent in Outlook")
    invited = dict(
        ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).values_list(
            "crm_object_id", "invited"
        )
    )
    assert invited == {sent.pk: [colleague], unsent.pk: []}

    # when both move in the CRM
    move(sent, 15)
    move(unsent, 17)
    sync(mailbox)

    # then the attendee who holds the sent one gets its update, and nothing of the other
    assert side.inbox(colleague) == [(UPDATE, "Sent in Outlook")]


def add_attendee(appointment: Appointment, address: str) -> None:
    """A CRM user adds an attendee to the appointment (and saves it)."""
    ActivityParty.objects.create(
        appointment=appointment, role=ActivityParty.Role.REQUIRED_ATTENDEE, address=address
    )
    appointment.refresh_from_db()
    move(appointment, appointment.start.hour)


def test_attendees_added_to_an_appointment_written_without_any_are_invited_once(
    side: Side,
) -> None:
    # given an appointment without attendees, exported by the first sync
    mailbox, colleague = side.mailbox(), side.attendee()
    appointment = make_appointment(
        owner_user=mailbox.user, subject="Planning", start=at(10), end=at(11)
    )
    sync(mailbox)

    # when a CRM user adds a colleague, and later moves it
    add_attendee(appointment, colleague)
    sync(mailbox)
    sync(mailbox)
    assert side.inbox(colleague) == [(REQUEST, "Planning")]
    move(appointment, 13)
    sync(mailbox)

    # then the colleague was invited once and got the update
    assert side.inbox(colleague) == [(REQUEST, "Planning"), (UPDATE, "Planning")]


def test_a_colleague_added_to_a_meeting_written_unsent_is_not_invited(side: Side) -> None:
    # given a meeting with an attendee, exported unsent by the first sync
    mailbox, first, added = side.mailbox(), side.attendee(), side.attendee()
    meeting = meeting_with(mailbox, first, "Unsent")
    sync(mailbox)

    # when a CRM user adds a colleague
    add_attendee(meeting, added)
    sync(mailbox)

    # then the meeting stays unsent: nobody hears of it (Outlook can send it)
    assert side.inbox(first) == []
    assert side.inbox(added) == []
    mapping = ExchangeSyncIdMapping.objects.get(crm_object_id=meeting.pk)
    assert (mapping.invited, mapping.withheld) == ([], sorted([first, added]))


def test_attendees_added_while_send_invitations_is_off_are_not_invited(side: Side) -> None:
    # given an appointment without attendees in Exchange, then "send invitations" off
    mailbox, colleague = side.mailbox(), side.attendee()
    appointment = make_appointment(
        owner_user=mailbox.user, subject="Quiet planning", start=at(10), end=at(11)
    )
    sync(mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(send_invitations=False)

    # when a CRM user adds a colleague
    add_attendee(appointment, colleague)
    sync(mailbox)

    # then nobody is invited: EWS adds the attendee silently; Graph, which cannot, holds the
    # change and says so
    assert side.inbox(colleague) == []
    held = held_sentences(mailbox, appointment)
    assert len(held) == (1 if side.protocol == "graph" else 0)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plan")
def test_the_resolver_query_is_served_by_the_lower_case_indexes() -> None:
    # given the resolver's one query for a batch of addresses
    with CaptureQueriesContext(connection) as captured:
        PartyResolver().resolve_many(["a@partner.example", "B@Partner.Example"])
    (query,) = captured.captured_queries

    # when PostgreSQL plans it with sequential scans ruled out where an index can serve
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + query["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # then every address column is read through its lower-case index
    for index in (
        "user_email_lower_idx",
        "mailbox_email_lower_idx",
        "queue_email_lower_idx",
        "contact_email1_lower_idx",
        "contact_email2_lower_idx",
        "contact_email3_lower_idx",
        "account_email_lower_idx",
    ):
        assert index in plan, plan
