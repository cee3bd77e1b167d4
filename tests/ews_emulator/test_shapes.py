"""Response shapes per operation: what SyncFolderItems and FindItem leave out or cut, what
GetItem adds (EWS reference: "SyncFolderItems operation", "FindItem operation", "Property
sets and response shapes in EWS")."""

from __future__ import annotations

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone, ItemId
from exchangelib.fields import FieldPath
from exchangelib.items import Message
from exchangelib.recurrence import DailyPattern, Recurrence
from exchangelib.services import FindItem, SyncFolderItems

from ews_emulator.control import ControlClient

UTC = EWSTimeZone("UTC")
LONG = "x" * 300 + "END"


def _paths(folder: object, names: list[str]) -> set[FieldPath]:
    return {f for f in folder.normalize_fields(fields=names) if not f.field.is_attribute}  # type: ignore[attr-defined]


def _sync(account: Account, folder: object, names: list[str]) -> list[object]:
    service = SyncFolderItems(account=account)
    changes = list(
        service.call(
            folder=folder,
            shape="IdOnly",
            additional_fields=_paths(folder, names),
            sync_state=None,
            ignore=None,
            max_changes_returned=100,
            sync_scope=None,
        )
    )
    return [item for _kind, item in changes]


def _find(account: Account, folder: object, names: list[str]) -> list[object]:
    return list(
        FindItem(account=account).call(
            folders=[folder],
            additional_fields=_paths(folder, names),
            restriction=None,
            order_fields=None,
            shape="IdOnly",
            query_string=None,
            depth="Shallow",
            calendar_view=None,
            max_items=None,
            offset=0,
        )
    )


def _meeting(account: Account) -> CalendarItem:
    start = EWSDateTime(2030, 3, 4, 9, tzinfo=UTC)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Planning",
        location=LONG,
        body="A long description " + LONG,
        start=start,
        end=start + (EWSDateTime(2030, 3, 4, 10, tzinfo=UTC) - start),
        required_attendees=["ann@example.org"],
        optional_attendees=["bob@example.org"],
        recurrence=Recurrence(pattern=DailyPattern(interval=1), start=start.date(), number=3),
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


CALENDAR_FIELDS = [
    "subject",
    "location",
    "body",
    "required_attendees",
    "optional_attendees",
    "recurrence",
    "first_occurrence",
    "attachments",
]


def test_sync_folder_items_leaves_out_what_only_get_item_returns(account: Account) -> None:
    made = _meeting(account)
    (item,) = _sync(account, account.calendar, CALENDAR_FIELDS)
    assert item.id == made.id and item.subject == "Planning"  # type: ignore[attr-defined]
    assert item.body is None  # type: ignore[attr-defined]
    assert not item.required_attendees and not item.optional_attendees  # type: ignore[attr-defined]
    assert item.recurrence is None and item.first_occurrence is None  # type: ignore[attr-defined]
    assert item.location == LONG[:255]  # type: ignore[attr-defined]
    (full,) = account.fetch(ids=[ItemId(made.id, made.changekey)], only_fields=CALENDAR_FIELDS)
    assert full.body == "A long description " + LONG
    assert full.location == LONG
    assert [a.mailbox.email_address for a in full.required_attendees] == ["ann@example.org"]
    assert [a.mailbox.email_address for a in full.optional_attendees] == ["bob@example.org"]
    assert full.recurrence.pattern == DailyPattern(interval=1)
    assert full.first_occurrence is not None


def test_find_item_leaves_out_bodies_and_recipients_and_cuts_long_strings(
    account: Account,
) -> None:
    msg = Message(
        account=account,
        folder=account.drafts,
        subject="Report",
        body="Body text",
        to_recipients=["ann@example.org"],
        cc_recipients=["bob@example.org"],
    )
    msg.save()
    (found,) = _find(
        account, account.drafts, ["subject", "body", "to_recipients", "cc_recipients", "display_to"]
    )
    assert found.subject == "Report"  # type: ignore[attr-defined]
    assert found.body is None  # type: ignore[attr-defined]
    assert not found.to_recipients and not found.cc_recipients  # type: ignore[attr-defined]
    assert "ann@example.org" in (found.display_to or "")  # type: ignore[attr-defined]
    _meeting(account)
    (meeting,) = _find(account, account.calendar, CALENDAR_FIELDS)
    assert meeting.location == LONG[:255] and meeting.body is None  # type: ignore[attr-defined]
    assert not meeting.required_attendees and meeting.recurrence is None  # type: ignore[attr-defined]


def test_contact_addresses_are_in_views_but_notes_are_not(
    account: Account, control: ControlClient
) -> None:
    control.create_item(
        account.primary_smtp_address,
        "contacts",
        {
            "GivenName": "Ann",
            "Surname": "Lee",
            "Body": "Met at the fair",
            "EmailAddresses": {"EmailAddress1": "ann@example.org"},
        },
    )
    (item,) = _sync(account, account.contacts, ["surname", "email_addresses", "body"])
    assert item.surname == "Lee" and item.body is None  # type: ignore[attr-defined]
    assert [e.email for e in item.email_addresses] == ["ann@example.org"]  # type: ignore[attr-defined]


def test_querysets_that_need_bodies_still_get_them_through_get_item(account: Account) -> None:
    # exchangelib itself asks GetItem for fields FindItem cannot return.
    _meeting(account)
    (item,) = list(account.calendar.all().only("subject", "body", "required_attendees"))
    assert item.body == "A long description " + LONG
    assert [a.mailbox.email_address for a in item.required_attendees] == ["ann@example.org"]


def test_a_subject_longer_than_255_characters_is_cut_when_stored(
    account: Account, control: ControlClient
) -> None:
    # "Subject" (EWS reference): "The subject is limited to 255 characters." (exchangelib
    # refuses a longer one itself, so the item is made as a user would, by the control API.)
    made = control.create_item(
        account.primary_smtp_address, "messages", {"Subject": "s" * 300 + "END"}, folder="drafts"
    )
    (stored,) = account.fetch(ids=[ItemId(made["id"])], only_fields=["subject"])
    assert stored.subject == "s" * 255


def test_body_type_text_and_item_attachment_text_body(account: Account) -> None:
    """BodyType=Text answers an HTML body as text; an item attachment's item comes with
    its TextBody; attachment ids: malformed and unknown ones get Exchange's codes."""
    from exchangelib import HTMLBody
    from exchangelib.attachments import AttachmentId, FileAttachment, ItemAttachment
    from exchangelib.errors import ErrorInvalidAttachmentId, ErrorInvalidIdMalformed
    from exchangelib.fields import FieldPath
    from exchangelib.services import GetAttachment

    inner = Message(account=account, subject="Inner", body=HTMLBody("<p>Hello <b>HTML</b></p>"))
    outer = Message(account=account, folder=account.drafts, subject="Outer")
    attachment = ItemAttachment(name="inner", item=inner)
    outer.attach(attachment)
    outer.save()
    [fetched] = (
        GetAttachment(account=account).get(
            items=[attachment.attachment_id],
            include_mime_content=False,
            body_type="Text",
            filter_html_content=None,
            additional_fields=[FieldPath(field=Message.get_field_by_fieldname("body"))],
        ),
    )
    assert fetched.item.body == "Hello HTML\r\n"
    assert fetched.item.text_body == "Hello HTML"
    broken = FileAttachment(
        parent_item=outer, attachment_id=AttachmentId(id="AAMk="), name="x", content=b""
    )
    with pytest.raises(ErrorInvalidIdMalformed), broken.fp as fp:
        fp.read()
    gone = FileAttachment(name="gone.txt", content=b"x")
    outer.attach(gone)
    gone_id = gone.attachment_id
    outer.detach(gone)
    gone.parent_item, gone.attachment_id = outer, gone_id
    with pytest.raises(ErrorInvalidAttachmentId), gone.fp as fp:
        fp.read()
