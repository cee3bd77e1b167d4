"""EWS and Graph, given the same store contents, make the same CRM records: one test over
both protocols, each against an emulator seeded with the same items as a user in Outlook
would make them (the EWS emulator for EWS, the Microsoft 365 tenant's for Graph)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from activities.models import Appointment, Contact, Task
from ews_emulator.control import ControlClient
from ews_emulator.testing import EmulatorProcess
from mailboxes.itemtypes import TYPES
from mailboxes.models import ItemType, Mailbox
from tests.conftest import M365
from tests.graph_act.helpers import graph_mailbox
from tests.sync.helpers import emulated_mailbox, sync

pytestmark = pytest.mark.django_db

DAY = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).replace(hour=0, minute=0, second=0)


# Exchange gives every calendar item its zones (the control API leaves them out unless told).
UTC_ZONES = '<t:StartTimeZone Id="UTC"/><t:EndTimeZone Id="UTC"/>'


def _at(hours: float) -> str:
    return (DAY + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(control: ControlClient, address: str) -> None:
    """The store's contents: a meeting in a time zone, an all-day event, a weekly series,
    contacts with every kind of entry, tasks in several states."""
    control.create_item(
        address,
        "calendar",
        {
            "Subject": "Quarterly review",
            "Body": {"type": "HTML", "value": "<p>Numbers &amp; <b>plans</b></p>"},
            "Start": _at(9),
            "End": _at(10.5),
            "Location": "Room 4",
            "LegacyFreeBusyStatus": "Tentative",
            "ReminderIsSet": True,
            "ReminderMinutesBeforeStart": 30,
            "Categories": ["Review"],
            "RequiredAttendees": [
                {"email": "bob@partner.example", "name": "Bob", "response": "Accept"}
            ],
            "OptionalAttendees": [{"email": "carol@else.example", "name": "Carol"}],
            "xml": '<t:StartTimeZone Id="W. Europe Standard Time"/>'
            '<t:EndTimeZone Id="W. Europe Standard Time"/>',
        },
    )
    control.create_item(
        address,
        "calendar",
        {
            "Subject": "Trade fair",
            "Start": _at(24),
            "End": _at(72),
            "IsAllDayEvent": True,
            "xml": UTC_ZONES,
        },
    )
    control.create_item(
        address,
        "calendar",
        {
            "Subject": "Stand-up",
            "Start": _at(8),
            "End": _at(8.25),
            "xml": UTC_ZONES + "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
            "<t:DaysOfWeek>Monday Thursday</t:DaysOfWeek>"
            "<t:FirstDayOfWeek>Monday</t:FirstDayOfWeek>"
            f"</t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>{DAY.date()}</t:StartDate>"
            "<t:NumberOfOccurrences>6</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>",
        },
    )
    control.create_item(
        address,
        "contacts",
        {
            "GivenName": "Maria",
            "Surname": "Lopez",
            "DisplayName": "Maria Lopez",
            "CompanyName": "Acme",
            "JobTitle": "Buyer",
            "EmailAddresses": {
                "EmailAddress1": "maria@acme.example",
                "EmailAddress2": "m@home.example",
            },
            "PhoneNumbers": {
                "BusinessPhone": "+1 555 0100",
                "MobilePhone": "+1 555 0102",
                "BusinessFax": "+1 555 0103",
                "OtherFax": "+1 555 0104",
                "Pager": "+1 555 0105",
                "AssistantPhone": "+1 555 0106",
                "Callback": "+1 555 0107",
                "CarPhone": "+1 555 0108",
                "CompanyMainPhone": "+1 555 0109",
                "Isdn": "+1 555 0110",
                "PrimaryPhone": "+1 555 0111",
                "RadioPhone": "+1 555 0112",
                "Telex": "+1 555 0113",
                "TtyTddPhone": "+1 555 0114",
            },
            "PhysicalAddresses": {
                "Business": {"Street": "1 Main St", "City": "Springfield", "PostalCode": "12345"}
            },
            "Body": "Prefers email.",
            "Categories": ["Customer"],
        },
    )
    control.seed(address, "contacts", 2)
    control.create_item(
        address,
        "tasks",
        {
            "Subject": "Send the offer",
            "Status": "InProgress",
            "PercentComplete": 40,
            "Importance": "High",
        },
    )
    control.seed(address, "tasks", 2)


def records(mailbox: Mailbox) -> dict[str, list[dict[str, Any]]]:
    """The mailbox owner's records in canonical form, in a stable order."""
    found: dict[str, list[dict[str, Any]]] = {}
    rows: dict[str, list[Any]] = {
        # exceptions of a series are in their master's canonical form
        ItemType.APPOINTMENT: list(
            Appointment.objects.filter(owner_user=mailbox.user, series_master__isnull=True)
        ),
        ItemType.CONTACT: list(Contact.objects.filter(owner_user=mailbox.user)),
        ItemType.TASK: list(Task.objects.filter(owner_user=mailbox.user)),
    }
    for item_type, records_of_type in rows.items():
        kind = TYPES[item_type]
        canonicals = [kind.record_canonical(r) for r in records_of_type]
        for c in canonicals:
            # The organizer is the mailbox itself, whose address differs between the runs.
            if c.get("organizer"):
                c["organizer"] = "the mailbox"
        found[item_type] = sorted(canonicals, key=lambda c: repr(sorted(c.items())))
    return found


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return {}


@pytest.mark.parametrize("protocol", ["ews", "graph"])
def test_the_same_store_contents_make_the_same_records(
    protocol: str, request: pytest.FixtureRequest, expected: dict[str, Any]
) -> None:
    if protocol == "ews":
        ews: EmulatorProcess = request.getfixturevalue("ews")
        mailbox, control = emulated_mailbox(ews), ews.control
    else:
        m365: M365 = request.getfixturevalue("m365")
        mailbox, control = graph_mailbox(m365), m365.tenant.control
    seed(control, mailbox.email_address)
    sync(mailbox)
    sync(mailbox)  # nothing changes on a second cycle
    got = records(mailbox)
    assert [len(got[t]) for t in (ItemType.APPOINTMENT, ItemType.CONTACT, ItemType.TASK)] == [
        3,
        3,
        3,
    ]
    (series,) = [a for a in got[ItemType.APPOINTMENT] if a["recurrence"]]
    assert series["recurrence"]["boundary"]["number"] == 6
    (maria,) = [c for c in got[ItemType.CONTACT] if c["last_name"] == "Lopez"]
    assert len(maria["phones"]) == 14  # every phone EWS shows as a PhoneNumbers entry
    (meeting,) = [a for a in got[ItemType.APPOINTMENT] if a["attendees"]]
    assert meeting["time_zone"] == "Europe/Berlin" and meeting["description"] == "Numbers & plans"
    (offer,) = [t for t in got[ItemType.TASK] if t["subject"] == "Send the offer"]
    # Graph v1.0's todoTask has no percent complete: the 40 % set in Outlook is not seen
    # over Graph (crmsync keeps the CRM's own percentage in its open extension).
    assert offer["percent_complete"] == (40 if protocol == "ews" else 0)
    offer["percent_complete"] = None
    # whichever protocol ran first, the other makes exactly the same records
    first = expected.setdefault("records", got)
    differing = [
        (item_type, key, theirs.get(key), ours.get(key))
        for item_type in got
        for theirs, ours in zip(first[item_type], got[item_type], strict=True)
        for key in sorted(set(theirs) | set(ours))
        if theirs.get(key) != ours.get(key)
    ]
    assert differing == []
