"""Recurring series' exceptions both ways, meeting requests after the first sync, and
contacts imported from selected folders, against the emulator.

The emulator's control API acts as a user in Outlook for whole items; editing one
occurrence of a series and creating folders is done over EWS itself, with exchangelib.
"""

import datetime as dt

import pytest
from exchangelib.folders import Folder
from exchangelib.items import SEND_TO_NONE

from activities.models import ActivityParty, Appointment, ChangeOrigin, Contact
from mailboxes.connectors.ews import account_for
from mailboxes.models import ItemType
from tests.factories import make_appointment
from tests.sync.helpers import emulated_mailbox, options, sync
from tests.waiting import settled

pytestmark = pytest.mark.django_db

WEEKLY_FIVE_MONDAYS = (
    "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
    "<t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>"
    "<t:NumberedRecurrence><t:StartDate>2030-01-07</t:StartDate>"
    "<t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>"
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def standup_series(ews, mailbox) -> None:
    ews.control.create_item(
        mailbox.email_address,
        "calendar",
        {
            "Subject": "Standup",
            "Start": "2030-01-07T09:00:00Z",
            "End": "2030-01-07T09:15:00Z",
            "xml": WEEKLY_FIVE_MONDAYS,
        },
    )


def occurrences(mailbox) -> list:
    account = account_for(mailbox)
    view = account.calendar.view(start=utc(2030, 1, 1), end=utc(2030, 3, 1))
    return sorted((o for o in view if o.type in ("Occurrence", "Exception")), key=lambda o: o.start)


def fetched(mailbox, occurrence):
    """The occurrence read by GetItem, with its body (a calendar view has none)."""
    (item,) = account_for(mailbox).fetch(ids=[(occurrence.id, occurrence.changekey)])
    return item


def test_a_moved_renamed_and_a_deleted_occurrence_reach_the_crm(ews) -> None:
    # given a weekly series in Exchange whose second occurrence the user moved, renamed,
    # put in another room with its own notes and marked tentative, and whose third they
    # deleted
    mailbox = emulated_mailbox(ews)
    standup_series(ews, mailbox)
    second, third = occurrences(mailbox)[1:3]
    second.subject = "Standup (late)"
    second.start += dt.timedelta(hours=1)
    second.end += dt.timedelta(hours=1)
    second.location = "Room 4"
    second.body = "Bring the release notes."
    second.legacy_free_busy_status = "Tentative"
    second.save(
        update_fields=["subject", "start", "end", "location", "body", "legacy_free_busy_status"],
        send_meeting_invitations=SEND_TO_NONE,
    )
    third.delete(send_meeting_cancellations=SEND_TO_NONE)

    # when the mailbox syncs
    sync(mailbox)

    # then the series has a modified child with its own subject and time, and a cancelled one
    master = Appointment.objects.get(owner_user=mailbox.user, series_master=None)
    moved = master.exceptions.get(is_cancelled=False)
    assert moved.original_start == utc(2030, 1, 14, 9, 0)
    assert (moved.start, moved.end) == (utc(2030, 1, 14, 10, 0), utc(2030, 1, 14, 10, 15))
    assert moved.subject == "Standup (late)"
    assert moved.location == "Room 4"
    assert moved.description == "Bring the release notes."
    assert moved.busy_status == Appointment.BusyStatus.TENTATIVE
    # while the series keeps its own
    assert (master.location, master.description) == ("", "")
    assert master.busy_status == Appointment.BusyStatus.BUSY
    cancelled = master.exceptions.get(is_cancelled=True)
    assert cancelled.original_start == utc(2030, 1, 21, 9, 0)
    # and a second cycle echoes nothing back
    assert sync(mailbox).items_processed == 0


def test_exceptions_made_in_the_crm_reach_exchange_with_their_subjects(ews) -> None:
    # given a weekly series synced from Exchange
    mailbox = emulated_mailbox(ews)
    standup_series(ews, mailbox)
    sync(mailbox)
    master = Appointment.objects.get(owner_user=mailbox.user, series_master=None)

    # when a CRM user moves and renames the 2nd occurrence, gives it a room, notes and
    # the "out of office" status, and cancels the 4th
    make_appointment(
        owner_user=mailbox.user,
        series_master=master,
        original_start=utc(2030, 1, 14, 9, 0),
        start=utc(2030, 1, 14, 11, 0),
        end=utc(2030, 1, 14, 11, 30),
        subject="Standup with the client",
        location="Client office",
        description="Demo of the new release.",
        busy_status=Appointment.BusyStatus.OUT_OF_OFFICE,
        change_origin=ChangeOrigin.CRM_USER,
    )
    make_appointment(
        owner_user=mailbox.user,
        series_master=master,
        original_start=utc(2030, 1, 28, 9, 0),
        start=utc(2030, 1, 28, 9, 0),
        end=utc(2030, 1, 28, 9, 0),
        subject="Standup",
        is_cancelled=True,
        change_origin=ChangeOrigin.CRM_USER,
    )
    sync(mailbox)

    # then Exchange shows four occurrences, the moved one with its own subject and time
    found = occurrences(mailbox)
    assert [(o.start, o.subject) for o in found] == [
        (utc(2030, 1, 7, 9, 0), "Standup"),
        (utc(2030, 1, 14, 11, 0), "Standup with the client"),
        (utc(2030, 1, 21, 9, 0), "Standup"),
        (utc(2030, 2, 4, 9, 0), "Standup"),
    ]
    moved = fetched(mailbox, found[1])
    assert moved.location == "Client office"
    assert moved.body == "Demo of the new release."
    assert moved.legacy_free_busy_status == "OOF"
    # while the other occurrences keep the series' own
    untouched = fetched(mailbox, found[2])
    assert (untouched.location, untouched.body) == (None, None)
    assert untouched.legacy_free_busy_status == "Busy"
    # and the next cycle neither echoes nor duplicates the exceptions
    assert sync(mailbox).items_processed == 0
    master.refresh_from_db()
    assert master.exceptions.count() == 2


def test_meetings_invite_their_attendees_only_after_the_first_sync(ews) -> None:
    # given a mailbox past its first sync, and a colleague with a mailbox
    mailbox = emulated_mailbox(ews)
    colleague = emulated_mailbox(ews)
    sync(mailbox)

    # when a meeting with the colleague is created in the CRM
    meeting = make_appointment(
        owner_user=mailbox.user,
        subject="Design review",
        start=utc(2030, 8, 1, 10, 0),
        end=utc(2030, 8, 1, 11, 0),
    )
    ActivityParty.objects.create(
        appointment=meeting,
        role=ActivityParty.Role.REQUIRED_ATTENDEE,
        address=colleague.email_address,
    )
    sync(mailbox)

    # then the colleague gets the meeting request
    settled(ews.control)
    inbox = ews.control.items(colleague.email_address, "inbox")
    assert [i["subject"] for i in inbox] == ["Design review"]

    # and when the meeting moves in the CRM, an update follows; syncing again sends nothing
    meeting.refresh_from_db()
    meeting.start, meeting.end = utc(2030, 8, 1, 14, 0), utc(2030, 8, 1, 15, 0)
    meeting.save()
    sync(mailbox)
    sync(mailbox)
    settled(ews.control)
    assert len(ews.control.items(colleague.email_address, "inbox")) == 2


def test_contacts_come_from_the_selected_folders_only(ews) -> None:
    # given contacts in Contacts and in two folders below it
    mailbox = emulated_mailbox(ews)
    account = account_for(mailbox)
    partners = Folder(parent=account.contacts, name="Partners", folder_class="IPF.Contact")
    partners.save()
    family = Folder(parent=account.contacts, name="Family", folder_class="IPF.Contact")
    family.save()
    for folder, surname in (("contacts", "Default"), (partners.id, "Partner"), (family.id, "Kin")):
        ews.control.create_item(
            mailbox.email_address,
            "contact",
            {"GivenName": "Ann", "Surname": surname},
            folder=folder,
        )

    # when contacts are imported from the Partners folder only
    options(
        mailbox,
        ItemType.CONTACT,
        contact_import_scope="selected_folders",
        contact_import_folders=[partners.id],
    )
    sync(mailbox)

    # then only its contact arrives
    def names() -> list[str]:
        return sorted(
            Contact.objects.filter(owner_user=mailbox.user).values_list("last_name", flat=True)
        )

    assert names() == ["Partner"]

    # and switching to all folders brings the others, without a duplicate
    options(mailbox, ItemType.CONTACT, contact_import_scope="all_folders")
    sync(mailbox)
    assert names() == ["Default", "Kin", "Partner"]
