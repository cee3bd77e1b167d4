"""Option changes of appointments (issue 16) and contacts, saved on the self-service page:
what the next cycles export and import, over EWS and over Microsoft Graph
(`tests/sync/meeting_sides.py`), and that switching a direction off or on deletes nothing.
Meetings exported by an option change invite nobody (README, "Meeting invitations").
"""

from __future__ import annotations

import pytest
from django.test import Client

from activities.models import Appointment, Contact
from mailboxes.models import ItemType
from tests.factories import make_appointment, make_contact
from tests.sync.helpers import options, sync
from tests.sync.meeting_sides import (
    REQUEST,
    Side,
    at,
    meeting_with,
    move,
)
from tests.web.conftest import settings_post

pytestmark = pytest.mark.django_db


def save_options_page(mailbox, item_type: str, **fields):
    """Submit the self-service mailbox page with these options of one type changed."""
    ordered = list(mailbox.sync_options.order_by("item_type").values_list("item_type", flat=True))
    prefix = f"options-{ordered.index(item_type)}"
    data = settings_post(mailbox, **{f"{prefix}-{k}": v for k, v in fields.items()})
    client = Client()
    client.force_login(mailbox.user)
    return client.post(f"/mailboxes/{mailbox.pk}/", data)


def test_switching_crm_to_exchange_on_exports_old_meetings_without_invitations(
    side: Side,
) -> None:
    # given a mailbox past its first sync with CRM → Exchange off, and a meeting made meanwhile
    mailbox, colleague = side.mailbox(), side.attendee()
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
    assert side.calendar(mailbox) == ["Made while off"]
    assert side.inbox(colleague) == []
    # and a meeting created afterwards invites as usual
    meeting_with(mailbox, colleague, "Made after")
    sync(mailbox)
    assert side.inbox(colleague) == [(REQUEST, "Made after")]


def test_moving_sync_from_earlier_exports_and_imports_the_older_meetings(side: Side) -> None:
    # given a mailbox syncing from 200 days ahead, with an older meeting on each side
    mailbox, colleague = side.mailbox(), side.attendee()
    options(mailbox, ItemType.APPOINTMENT, sync_from=at(0, days=200).date())
    meeting_with(mailbox, colleague, "Old CRM meeting", start=at(9, 100), end=at(10, 100))
    side.outlook_meeting(mailbox, "Old Outlook meeting", at(9, 101))
    sync(mailbox)
    sync(mailbox)
    assert not Appointment.objects.filter(subject="Old Outlook meeting").exists()
    assert side.calendar(mailbox) == ["Old Outlook meeting"]

    # when "sync from" moves to 30 days ahead on the page (confirmed)
    response = save_options_page(
        mailbox,
        ItemType.APPOINTMENT,
        sync_from=at(0, days=30).date().isoformat(),
        confirm_change="on",
    )
    assert response.status_code == 302, response.content.decode()

    # then the next ordinary sync brings both over, without invitations
    sync(mailbox)
    assert (
        Appointment.objects.filter(owner_user=mailbox.user, subject="Old Outlook meeting").count()
        == 1
    )
    assert side.calendar(mailbox) == ["Old CRM meeting", "Old Outlook meeting"]
    assert side.inbox(colleague) == []


def test_more_contact_categories_and_folders_are_exported_and_imported_by_the_next_cycle(
    side: Side,
) -> None:
    # given contacts exported by category and imported from selected folders, past the first
    # sync: a CRM contact of a category not exported, a folder not imported
    mailbox = side.mailbox()
    options(
        mailbox,
        ItemType.CONTACT,
        contact_export_scope="selected_categories",
        contact_export_categories=["Export"],
        contact_import_scope="selected_folders",
        contact_import_folders=[side.contact_folder(mailbox, "Partners", "Partner")],
    )
    make_contact(owner_user=mailbox.user, last_name="Exported", categories=["Export"])
    make_contact(owner_user=mailbox.user, last_name="Later", categories=["Later"])
    family = side.contact_folder(mailbox, "Family", "Kin")
    sync(mailbox)

    def crm() -> list[str]:
        return sorted(
            Contact.objects.filter(owner_user=mailbox.user).values_list("last_name", flat=True)
        )

    def exchange() -> list[str]:
        return sorted(
            str(i["subject"]) for i in side.control.items(mailbox.email_address, "contacts")
        )

    assert crm() == ["Exported", "Later", "Partner"]
    assert exchange() == ["Exported, Ada"]
    current = options(mailbox, ItemType.CONTACT)

    # when the owner exports the category "Later" too and imports the Family folder: the page
    # first says what it will do
    change = {
        "contact_export_categories": "Export, Later",
        "contact_import_folders": ", ".join([*current.contact_import_folders, family]),
    }
    first = save_options_page(mailbox, ItemType.CONTACT, **change)
    assert first.status_code == 400
    said = first.content.decode()
    assert "1 contact will be exported to Exchange." in said
    assert "The contacts of 1 newly selected folder will be imported." in said
    confirmed = save_options_page(mailbox, ItemType.CONTACT, **change, confirm_change="on")
    assert confirmed.status_code == 302, confirmed.content.decode()

    # then the next ordinary sync exports the one and imports the other, duplicating nothing
    sync(mailbox)
    assert crm() == ["Exported", "Kin", "Later", "Partner"]
    assert exchange() == ["Exported, Ada", "Later, Ada"]
    sync(mailbox)
    assert crm() == ["Exported", "Kin", "Later", "Partner"]


def test_switching_crm_to_exchange_off_stops_changes_and_deletes_nothing(side: Side) -> None:
    # given a meeting sent to its attendee
    mailbox, colleague = side.mailbox(), side.attendee()
    sync(mailbox)
    meeting = meeting_with(mailbox, colleague, "Weekly")
    sync(mailbox)

    # when the owner switches CRM → Exchange off: the page says what that does beforehand
    client = Client()
    assert mailbox.user is not None
    client.force_login(mailbox.user)
    page = client.get(f"/mailboxes/{mailbox.pk}/").content.decode()
    assert "Off: CRM changes no longer reach Exchange; nothing is deleted." in page
    response = save_options_page(mailbox, ItemType.APPOINTMENT, crm_to_exchange=None)
    assert response.status_code == 302, response.content.decode()

    # then a later move in the CRM reaches neither Exchange nor the attendee, and the
    # meeting stays on both sides
    move(meeting, 17)
    sync(mailbox)
    assert side.calendar(mailbox) == ["Weekly"]
    (item,) = side.control.items(mailbox.email_address, "calendar")
    assert side.control.item(item["id"])["fields"]["Start"].startswith(
        at(10).strftime("%Y-%m-%dT%H")
    )
    assert side.inbox(colleague) == [(REQUEST, "Weekly")]
    assert Appointment.objects.filter(pk=meeting.pk).exists()


def test_switching_exchange_to_crm_off_and_on_imports_what_came_meanwhile_and_deletes_nothing(
    side: Side,
) -> None:
    mailbox = side.mailbox()
    own = make_appointment(owner_user=mailbox.user, subject="Kept", start=at(9, 90), end=at(10, 90))
    sync(mailbox)

    # switched off: a meeting made in Outlook stays out of the CRM, nothing is deleted
    response = save_options_page(mailbox, ItemType.APPOINTMENT, exchange_to_crm=None)
    assert response.status_code == 302, response.content.decode()
    side.outlook_meeting(mailbox, "Made in Outlook", at(9, 91))
    sync(mailbox)
    assert not Appointment.objects.filter(subject="Made in Outlook").exists()
    assert Appointment.objects.filter(pk=own.pk).exists()
    assert side.calendar(mailbox) == ["Kept", "Made in Outlook"]

    # switched on again: the next ordinary sync imports it
    response = save_options_page(
        mailbox, ItemType.APPOINTMENT, exchange_to_crm="on", confirm_change="on"
    )
    assert response.status_code == 302, response.content.decode()
    sync(mailbox)
    assert (
        Appointment.objects.filter(owner_user=mailbox.user, subject="Made in Outlook").count() == 1
    )
