"""Meetings (issue 16): attendees resolved as email parties are, and invitations only
where a person expects one, counted in the attendees' emulator inboxes.

Outlook is played by exchangelib (the organizer's or an attendee's own account) and by the
emulator's control API.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from exchangelib.items import SEND_TO_NONE, CalendarItem

from activities.models import ActivityParty, Appointment
from mailboxes.connectors.ews import account_for
from mailboxes.mail.parties import PartyResolver
from mailboxes.models import ExchangeSyncIdMapping, ItemType
from tests.factories import make_appointment, make_contact, make_user
from tests.sync.helpers import emulated_mailbox, options, sync
from tests.web.conftest import settings_post

pytestmark = pytest.mark.django_db


def utc(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


# --- One party resolver ----------------------------------------------------------------------


def test_an_attendee_resolves_to_a_contact_stored_in_other_letter_case(ews) -> None:
    # given a contact stored with capitals, and a meeting in Outlook where it attends in lower case
    mailbox = emulated_mailbox(ews)
    contact = make_contact(owner_user=mailbox.user, email_address2="Y@Partner.Example")
    account = account_for(mailbox)
    account.protocol.TIMEZONE = account.default_timezone
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Partner call",
        start=utc(2030, 5, 2, 9),
        end=utc(2030, 5, 2, 10),
        required_attendees=["y@partner.example"],
    ).save(send_meeting_invitations=SEND_TO_NONE)

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


def received(mailbox) -> list[tuple[str, str]]:
    """What reached the attendee's Inbox, read by the attendee's own Outlook (exchangelib):
    (MeetingRequest / MeetingCancellation / ..., subject)."""
    inbox = account_for(mailbox).inbox
    return sorted((type(item).__name__, item.subject) for item in inbox.all())


def meeting_with(mailbox, attendee, subject: str, **fields) -> Appointment:
    meeting = make_appointment(
        owner_user=mailbox.user,
        subject=subject,
        start=fields.pop("start", utc(2030, 8, 1, 10)),
        end=fields.pop("end", utc(2030, 8, 1, 11)),
        **fields,
    )
    ActivityParty.objects.create(
        appointment=meeting,
        role=ActivityParty.Role.REQUIRED_ATTENDEE,
        address=attendee.email_address,
    )
    return meeting


def move(meeting: Appointment, hour: int) -> None:
    meeting.refresh_from_db()
    meeting.start, meeting.end = utc(2030, 8, 1, hour), utc(2030, 8, 1, hour + 1)
    meeting.save()


REQUEST = "MeetingRequest"


def test_the_first_sync_invites_nobody_and_later_changes_stay_silent(ews) -> None:
    # given a CRM meeting with a colleague, before the mailbox's first sync
    mailbox, colleague = emulated_mailbox(ews), emulated_mailbox(ews)
    meeting = meeting_with(mailbox, colleague, "Old review")

    # when the first sync exports it, and it later moves in the CRM
    sync(mailbox)
    move(meeting, 14)
    sync(mailbox)

    # then the colleague, never invited, hears of neither
    assert ExchangeSyncIdMapping.objects.get(crm_object_id=meeting.pk).invited == []
    assert received(colleague) == []


def test_a_new_meeting_invites_once_and_its_update_and_cancellation_follow(ews) -> None:
    # given a mailbox past its first sync
    mailbox, colleague = emulated_mailbox(ews), emulated_mailbox(ews)
    sync(mailbox)

    # when a meeting is created in the CRM, synced twice, moved, then deleted
    meeting = meeting_with(mailbox, colleague, "Design review")
    sync(mailbox)
    sync(mailbox)
    assert received(colleague) == [(REQUEST, "Design review")]
    move(meeting, 14)
    sync(mailbox)
    assert received(colleague) == [(REQUEST, "Design review")] * 2
    meeting.delete()
    sync(mailbox)

    # then the colleague got the request, one update and one cancellation
    assert received(colleague) == [
        ("MeetingCancellation", "Canceled: Design review"),
        (REQUEST, "Design review"),
        (REQUEST, "Design review"),
    ]


def test_deleting_a_meeting_nobody_was_sent_cancels_nothing(ews) -> None:
    mailbox, colleague = emulated_mailbox(ews), emulated_mailbox(ews)
    meeting = meeting_with(mailbox, colleague, "Quiet one")
    sync(mailbox)

    meeting.delete()
    sync(mailbox)

    assert received(colleague) == []
    assert not account_for(mailbox).calendar.filter(subject="Quiet one").exists()


def test_a_full_resync_exports_an_old_meeting_without_invitations(ews) -> None:
    # given a mailbox that synced with CRM → Exchange off, and a meeting made meanwhile
    mailbox, colleague = emulated_mailbox(ews), emulated_mailbox(ews)
    options(mailbox, ItemType.APPOINTMENT, crm_to_exchange=False)
    sync(mailbox)
    meeting_with(mailbox, colleague, "Never exported")
    sync(mailbox)

    # when CRM → Exchange is switched on (outside the mailbox page) and a full resync runs
    options(mailbox, ItemType.APPOINTMENT, crm_to_exchange=True)
    sync(mailbox, full_resync=True)

    # then the meeting is in Exchange and nobody was invited
    assert account_for(mailbox).calendar.filter(subject="Never exported").count() == 1
    assert received(colleague) == []


def test_with_send_invitations_off_a_new_meeting_invites_nobody(ews) -> None:
    mailbox = emulated_mailbox(ews, send_invitations=False)
    colleague = emulated_mailbox(ews)
    sync(mailbox)

    meeting = meeting_with(mailbox, colleague, "Unannounced")
    sync(mailbox)
    move(meeting, 15)
    sync(mailbox)

    assert account_for(mailbox).calendar.filter(subject="Unannounced").count() == 1
    assert received(colleague) == []


# --- Option changes ----------------------------------------------------------------------------


def save_options_page(mailbox, item_type: str, **fields):
    """Submit the self-service mailbox page with these options of one type changed."""
    ordered = list(mailbox.sync_options.order_by("item_type").values_list("item_type", flat=True))
    prefix = f"options-{ordered.index(item_type)}"
    data = settings_post(mailbox, **{f"{prefix}-{k}": v for k, v in fields.items()})
    client = Client()
    client.force_login(mailbox.user)
    return client.post(f"/mailboxes/{mailbox.pk}/", data)


def test_switching_crm_to_exchange_on_exports_old_meetings_without_invitations(ews) -> None:
    # given a mailbox past its first sync with CRM → Exchange off, and a meeting made meanwhile
    mailbox, colleague = emulated_mailbox(ews), emulated_mailbox(ews)
    options(mailbox, ItemType.APPOINTMENT, crm_to_exchange=False)
    sync(mailbox)
    meeting_with(mailbox, colleague, "Made while off")
    sync(mailbox)

    # when the owner switches CRM → Exchange on: the page first says what it will do
    first = save_options_page(mailbox, ItemType.APPOINTMENT, crm_to_exchange="on")
    assert first.status_code == 400
    assert "1 appointment will be exported to Exchange without invitations." in (
        first.content.decode()
    )
    assert not options(mailbox, ItemType.APPOINTMENT).crm_to_exchange
    confirmed = save_options_page(
        mailbox, ItemType.APPOINTMENT, crm_to_exchange="on", confirm_change="on"
    )
    assert confirmed.status_code == 302, confirmed.content.decode()

    # then the next ordinary sync exports it, and nobody is invited
    sync(mailbox)
    assert account_for(mailbox).calendar.filter(subject="Made while off").count() == 1
    assert received(colleague) == []
    # and a meeting created afterwards invites as usual
    meeting_with(mailbox, colleague, "Made after")
    sync(mailbox)
    assert received(colleague) == [(REQUEST, "Made after")]


def test_moving_sync_from_earlier_exports_and_imports_the_older_meetings(ews) -> None:
    # given a mailbox syncing from 2030-06-01, with an older meeting on each side
    mailbox, colleague = emulated_mailbox(ews), emulated_mailbox(ews)
    options(mailbox, ItemType.APPOINTMENT, sync_from=dt.date(2030, 6, 1))
    meeting_with(
        mailbox, colleague, "Old CRM meeting", start=utc(2030, 3, 1, 9), end=utc(2030, 3, 1, 10)
    )
    account = account_for(mailbox)
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Old Outlook meeting",
        start=utc(2030, 3, 2, 9),
        end=utc(2030, 3, 2, 10),
    ).save(send_meeting_invitations=SEND_TO_NONE)
    sync(mailbox)
    sync(mailbox)
    assert not Appointment.objects.filter(subject="Old Outlook meeting").exists()
    assert account.calendar.filter(subject="Old CRM meeting").count() == 0

    # when "sync from" moves to 2030-01-01 on the page (confirmed)
    response = save_options_page(
        mailbox, ItemType.APPOINTMENT, sync_from="2030-01-01", confirm_change="on"
    )
    assert response.status_code == 302, response.content.decode()

    # then the next ordinary sync brings both over, without invitations
    sync(mailbox)
    assert (
        Appointment.objects.filter(owner_user=mailbox.user, subject="Old Outlook meeting").count()
        == 1
    )
    assert account.calendar.filter(subject="Old CRM meeting").count() == 1
    assert received(colleague) == []


def test_switching_exchange_to_crm_off_and_on_imports_what_came_meanwhile_and_deletes_nothing(
    ews,
) -> None:
    mailbox = emulated_mailbox(ews)
    own = make_appointment(owner_user=mailbox.user, subject="Kept", start=utc(2030, 9, 1, 9))
    sync(mailbox)
    account = account_for(mailbox)

    # switched off: a meeting made in Outlook stays out of the CRM, nothing is deleted
    response = save_options_page(mailbox, ItemType.APPOINTMENT, exchange_to_crm=None)
    assert response.status_code == 302, response.content.decode()
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Made in Outlook",
        start=utc(2030, 9, 2, 9),
        end=utc(2030, 9, 2, 10),
    ).save(send_meeting_invitations=SEND_TO_NONE)
    sync(mailbox)
    assert not Appointment.objects.filter(subject="Made in Outlook").exists()
    assert Appointment.objects.filter(pk=own.pk).exists()
    assert account.calendar.filter(subject="Kept").count() == 1

    # switched on again: the next ordinary sync imports it
    response = save_options_page(
        mailbox, ItemType.APPOINTMENT, exchange_to_crm="on", confirm_change="on"
    )
    assert response.status_code == 302, response.content.decode()
    sync(mailbox)
    assert (
        Appointment.objects.filter(owner_user=mailbox.user, subject="Made in Outlook").count() == 1
    )
