"""Create → get → update → sync → delete per item type, with field fidelity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchangelib import (
    Account,
    Attendee,
    CalendarItem,
    Contact,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    FileAttachment,
    HTMLBody,
    Mailbox,
    Message,
    Task,
)
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress

TZ = EWSTimeZone("Europe/Copenhagen")
UTC = EWSTimeZone("UTC")


def _sync_all(folder: Any) -> list[tuple[str, Any]]:
    return list(folder.sync_items())


def test_calendar_item_round_trip(account: Account, account_factory: object) -> None:
    folder = account.calendar
    assert _sync_all(folder) == []
    item = CalendarItem(
        account=account,
        folder=folder,
        subject="Quarterly review",
        body=HTMLBody("<p>Agenda</p>"),
        location="Room 4",
        start=EWSDateTime(2024, 3, 5, 9, 30, tzinfo=TZ),
        end=EWSDateTime(2024, 3, 5, 11, 0, tzinfo=TZ),
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address="x@example.org"), response_type="Accept")
        ],
        optional_attendees=["y@example.org"],
        categories=["CRM", "Review"],
        legacy_free_busy_status="OOF",
        reminder_is_set=True,
        reminder_minutes_before_start=30,
    )
    item.save()
    first_key = item.changekey

    got = folder.get(id=item.id)
    assert got.subject == "Quarterly review"
    assert got.body == "<p>Agenda</p>"
    assert got.location == "Room 4"
    assert got.start == EWSDateTime(2024, 3, 5, 8, 30, tzinfo=UTC)
    assert got.end == EWSDateTime(2024, 3, 5, 10, 0, tzinfo=UTC)
    assert [a.mailbox.email_address for a in got.required_attendees] == ["x@example.org"]
    assert got.required_attendees[0].response_type == "Accept"
    assert [a.mailbox.email_address for a in got.optional_attendees] == ["y@example.org"]
    assert got.categories == ["CRM", "Review"]
    assert got.legacy_free_busy_status == "OOF"
    assert got.reminder_minutes_before_start == 30
    assert got.organizer.email_address == account.primary_smtp_address
    assert got.uid and got.type == "Single" and got.is_all_day is False
    assert got._start_timezone == TZ

    created = _sync_all(folder)
    assert [(kind, i.id) for kind, i in created] == [("create", item.id)]
    state = folder.item_sync_state

    got.subject = "Quarterly review (moved)"
    got.start = EWSDateTime(2024, 3, 6, 9, 30, tzinfo=TZ)
    got.end = EWSDateTime(2024, 3, 6, 11, 0, tzinfo=TZ)
    got.save(update_fields=["subject", "start", "end"])
    assert got.changekey != first_key
    again = folder.get(id=item.id)
    assert again.subject == "Quarterly review (moved)"
    assert again.start == EWSDateTime(2024, 3, 6, 8, 30, tzinfo=UTC)
    assert again.last_modified_time >= got.datetime_created

    updates = list(folder.sync_items(sync_state=state))
    assert [(kind, i.id, i.subject) for kind, i in updates] == [
        ("update", item.id, "Quarterly review (moved)")
    ]
    state = folder.item_sync_state

    again.delete()
    deletes = list(folder.sync_items(sync_state=state))
    assert [(kind, i.id) for kind, i in deletes] == [("delete", item.id)]
    assert folder.all().count() == 0


def test_all_day_event_keeps_its_dates(account: Account) -> None:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Offsite",
        start=EWSDate(2024, 6, 10),
        end=EWSDate(2024, 6, 11),
        is_all_day=True,
    )
    item.save()
    got = account.calendar.get(id=item.id)
    assert got.is_all_day is True
    assert (got.start, got.end) == (EWSDate(2024, 6, 10), EWSDate(2024, 6, 11))


def test_contact_round_trip(account: Account) -> None:
    folder = account.contacts
    contact = Contact(
        account=account,
        folder=folder,
        given_name="Ada",
        middle_name="B.",
        surname="Lovelace",
        display_name="Ada Lovelace",
        company_name="Analytical Engines",
        job_title="Mathematician",
        body="Met at the conference",
        categories=["VIP"],
        email_addresses=[
            EmailAddress(email="ada@example.org", label="EmailAddress1"),
            EmailAddress(email="ada@home.example", label="EmailAddress2"),
        ],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+44 20 1234")],
        physical_addresses=[
            PhysicalAddress(
                label="Business", street="1 Engine Row", city="London", zipcode="N1", country="UK"
            )
        ],
    )
    contact.save()
    got = folder.get(id=contact.id)
    assert (got.given_name, got.middle_name, got.surname) == ("Ada", "B.", "Lovelace")
    assert got.display_name == "Ada Lovelace"
    assert (got.company_name, got.job_title) == ("Analytical Engines", "Mathematician")
    assert got.body == "Met at the conference"
    assert got.categories == ["VIP"]
    emails = {e.label: e.email for e in got.email_addresses}
    assert emails == {"EmailAddress1": "ada@example.org", "EmailAddress2": "ada@home.example"}
    assert [(p.label, p.phone_number) for p in got.phone_numbers] == [
        ("BusinessPhone", "+44 20 1234")
    ]
    address = got.physical_addresses[0]
    assert (address.label, address.street, address.city, address.zipcode, address.country) == (
        "Business",
        "1 Engine Row",
        "London",
        "N1",
        "UK",
    )
    state_items = list(folder.sync_items())
    assert [k for k, _ in state_items] == ["create"]
    state = folder.item_sync_state

    got.email_addresses = [EmailAddress(email="ada@new.example", label="EmailAddress1")]
    got.physical_addresses = [
        PhysicalAddress(label="Business", street="2 Engine Row", city="London")
    ]
    got.job_title = None
    got.save()
    again = folder.get(id=contact.id)
    assert {e.label: e.email for e in again.email_addresses} == {"EmailAddress1": "ada@new.example"}
    assert again.physical_addresses[0].street == "2 Engine Row"
    assert again.physical_addresses[0].zipcode is None
    assert again.job_title is None
    assert [k for k, _ in folder.sync_items(sync_state=state)] == ["update"]
    state = folder.item_sync_state
    again.delete()
    assert [(k, i.id) for k, i in folder.sync_items(sync_state=state)] == [("delete", contact.id)]


def test_task_round_trip(account: Account) -> None:
    folder = account.tasks
    task = Task(
        account=account,
        folder=folder,
        subject="Call back",
        body="About the renewal",
        start_date=EWSDate(2024, 4, 1),
        due_date=EWSDate(2024, 4, 3),
        status="InProgress",
        percent_complete=Decimal(40),
        importance="High",
        categories=["Sales"],
    )
    task.save()
    got = folder.get(id=task.id)
    assert got.subject == "Call back" and got.body == "About the renewal"
    assert (got.start_date, got.due_date) == (EWSDate(2024, 4, 1), EWSDate(2024, 4, 3))
    assert (got.status, got.percent_complete, got.importance) == ("InProgress", 40, "High")
    assert got.categories == ["Sales"] and got.is_complete is False
    list(folder.sync_items())
    state = folder.item_sync_state

    got.status = "Completed"
    got.percent_complete = Decimal(100)
    got.save(update_fields=["status", "percent_complete"])
    done = folder.get(id=task.id)
    assert done.status == "Completed" and done.is_complete is True
    assert done.complete_date is not None
    assert [(k, i.status) for k, i in folder.sync_items(sync_state=state)] == [
        ("update", "Completed")
    ]
    state = folder.item_sync_state
    done.soft_delete()
    assert [k for k, _ in folder.sync_items(sync_state=state)] == ["delete"]
    assert folder.all().count() == 0


def test_message_round_trip(account: Account) -> None:
    folder = account.drafts
    message = Message(
        account=account,
        folder=folder,
        subject="Proposal",
        body=HTMLBody("<b>Hello</b>"),
        to_recipients=["client@example.org"],
        cc_recipients=[Mailbox(name="Boss", email_address="boss@example.org")],
        bcc_recipients=["audit@example.org"],
        categories=["Tracked"],
        in_reply_to="<orig@example.org>",
        references="<root@example.org> <orig@example.org>",
        is_read=False,
    )
    message.save()
    got = folder.get(id=message.id)
    assert got.subject == "Proposal" and got.body == "<b>Hello</b>"
    assert got.text_body == "Hello"
    assert [r.email_address for r in got.to_recipients] == ["client@example.org"]
    assert [(r.name, r.email_address) for r in got.cc_recipients] == [("Boss", "boss@example.org")]
    assert [r.email_address for r in got.bcc_recipients] == ["audit@example.org"]
    assert got.categories == ["Tracked"] and got.is_read is False
    assert got.in_reply_to == "<orig@example.org>"
    assert got.references == "<root@example.org> <orig@example.org>"
    assert got.message_id.startswith("<") and got.conversation_id.id
    assert got.author.email_address == account.primary_smtp_address
    assert b"Subject: Proposal" in got.mime_content
    assert b"In-Reply-To: <orig@example.org>" in got.mime_content
    list(folder.sync_items())
    state = folder.item_sync_state

    got.is_read = True
    got.save(update_fields=["is_read"])
    changes = list(folder.sync_items(sync_state=state))
    assert changes == [("read_flag_change", (changes[0][1][0], True))]
    assert changes[0][1][0].id == message.id
    state = folder.item_sync_state

    got.subject = "Proposal v2"
    got.save(update_fields=["subject"])
    assert [(k, i.subject) for k, i in folder.sync_items(sync_state=state)] == [
        ("update", "Proposal v2")
    ]
    assert b"Subject: Proposal v2" in folder.get(id=message.id).mime_content
    state = folder.item_sync_state
    got.move_to_trash()
    assert [k for k, _ in folder.sync_items(sync_state=state)] == ["delete"]
    assert [m.subject for m in account.trash.all()] == ["Proposal v2"]


class _Mark(ExtendedProperty):
    """A client's own named property (as crmsync marks items with their record ids)."""

    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "RoundtripMark"
    property_type = "String"


def test_marking_an_item_with_attachments_by_an_extended_property_keeps_them(
    account: Account,
) -> None:
    # given an appointment with a file attachment
    if "roundtrip_mark" not in {f.name for f in CalendarItem.FIELDS}:
        CalendarItem.register("roundtrip_mark", _Mark)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="With a file",
        start=EWSDateTime(2030, 3, 4, 9, 0, tzinfo=UTC),
        end=EWSDateTime(2030, 3, 4, 10, 0, tzinfo=UTC),
    )
    item.save()
    item.attach(FileAttachment(name="agenda.txt", content=b"one\ntwo\n"))
    (before,) = account.fetch(ids=[item])

    # when only an extended property is set on it (as a sync client marks items)
    item.roundtrip_mark = "42"
    item.save(update_fields=["roundtrip_mark"])

    # then it carries the mark and its attachments as before, with a new change key
    (after,) = account.fetch(ids=[(item.id, None)])
    assert after.roundtrip_mark == "42"
    assert after.changekey != before.changekey
    assert [a.name for a in after.attachments] == [a.name for a in before.attachments]
    assert [a.name for a in after.attachments] == ["agenda.txt"]
    assert after.has_attachments and after.subject == "With a file"
    assert after.size != before.size
