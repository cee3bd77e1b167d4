"""The Graph converters give the canonical form the EWS converters give of the same item:
items written through EWS (exchangelib), read through EWS and through Graph (the emulator
serves both protocols over one store)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from exchangelib import (
    Account,
    Attendee,
    CalendarItem,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    HTMLBody,
)
from exchangelib import Contact as EwsContact
from exchangelib import Task as EwsTask
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Mailbox as EwsMailbox
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    WeeklyPattern,
)

from ews_emulator.graph import ids
from mailboxes.connectors.ews.converters import CONVERTERS
from mailboxes.connectors.ews.occurrences import modified_occurrences
from mailboxes.connectors.graph.act import expand
from mailboxes.connectors.graph.converters import (
    GraphContactConverter,
    GraphEventConverter,
    GraphTaskConverter,
)
from mailboxes.connectors.graph.converters.events import series_details, series_window
from mailboxes.connectors.graph.converters.tasks import EXTENSION_EXPAND
from mailboxes.models import ItemType
from tests.graph_emulator.conftest import Tenant

pytestmark = pytest.mark.django_db
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


def _graph_get(
    graph: requests.Session, tenant: Tenant, email: str, path: str, **params: str
) -> Any:
    answer = graph.get(f"{tenant.graph}/users/{email}/{path}", params=params, headers=IMMUTABLE)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _ews_canonical(account: Account, item: Any, item_type: str) -> dict[str, Any]:
    converter = CONVERTERS[item_type]
    folder = item.folder
    fetched = next(iter(account.fetch(ids=[(item.id, None)], only_fields=converter.ews_fields)))
    details = modified_occurrences(folder, [fetched]) if item_type == ItemType.APPOINTMENT else {}
    return converter.item_canonical(fetched, details)


def _graph_event_canonical(
    graph: requests.Session, tenant: Tenant, email: str, item_id: str
) -> dict[str, Any]:
    converter = GraphEventConverter()
    event = _graph_get(
        graph,
        tenant,
        email,
        f"events/{ids.rest_id(item_id)}",
        **{"$select": ",".join(converter.select)},
    )
    if event.get("type") != "seriesMaster":
        return converter.canonical(event)
    window = series_window(event, dt.datetime.now(dt.UTC))
    assert window is not None
    instances = _graph_get(
        graph,
        tenant,
        email,
        f"events/{event['id']}/instances",
        startDateTime=window[0].isoformat(),
        endDateTime=window[1].isoformat(),
        **{"$select": ",".join(converter.instance_select)},
    )["value"]
    exceptions, deleted = series_details(event, instances, window[1])
    return converter.canonical(event, exceptions=exceptions, deleted_starts=deleted)


@pytest.fixture
def mailbox(
    new_mailbox: Callable[[], str], ews_account: Callable[[str], Account]
) -> tuple[str, Account]:
    email = new_mailbox()
    return email, ews_account(email)


def _zone(name: str) -> EWSTimeZone:
    return EWSTimeZone(name)


def test_a_meeting_with_attendees_in_a_zone_reads_the_same(
    mailbox: tuple[str, Account], graph: requests.Session, tenant: Tenant
) -> None:
    email, account = mailbox
    tz = _zone("Europe/Berlin")
    item = CalendarItem(
        folder=account.calendar,
        subject="Quarterly review",
        body=HTMLBody("<html><body><p>Agenda:</p><p>1. Figures &amp; plans</p></body></html>"),
        location="Room 4",
        start=EWSDateTime(2026, 12, 14, 10, 0, tzinfo=tz),
        end=EWSDateTime(2026, 12, 14, 11, 30, tzinfo=tz),
        legacy_free_busy_status="Tentative",
        reminder_is_set=True,
        reminder_minutes_before_start=30,
        categories=["Customer", "Review"],
        required_attendees=[
            Attendee(
                mailbox=EwsMailbox(email_address="Ann@Example.org", name="Ann"),
                response_type="Accept",
            )
        ],
        optional_attendees=[
            Attendee(mailbox=EwsMailbox(email_address="bob@example.org", name="Bob"))
        ],
    )
    item.save(send_meeting_invitations="SendToNone")
    ews = _ews_canonical(account, item, ItemType.APPOINTMENT)
    assert ews["attendees"] and ews["description"] and ews["time_zone"] == "Europe/Berlin"
    assert _graph_event_canonical(graph, tenant, email, item.id) == ews


def test_an_all_day_event_reads_the_same(
    mailbox: tuple[str, Account], graph: requests.Session, tenant: Tenant
) -> None:
    email, account = mailbox
    item = CalendarItem(
        folder=account.calendar,
        subject="Trade fair",
        start=EWSDate(2026, 12, 7),
        end=EWSDate(2026, 12, 9),
        is_all_day=True,
        reminder_is_set=False,
    )
    item._start_timezone = item._end_timezone = _zone("America/New_York")
    item.save(send_meeting_invitations="SendToNone")
    ews = _ews_canonical(account, item, ItemType.APPOINTMENT)
    assert (ews["start"], ews["end"]) == ("2026-12-07", "2026-12-09")
    assert _graph_event_canonical(graph, tenant, email, item.id) == ews


@pytest.mark.parametrize(
    "recurrence",
    [
        Recurrence(
            pattern=DailyPattern(interval=2),
            boundary=NumberedPattern(start=EWSDate(2026, 12, 1), number=6),
        ),
        Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1, 3], first_day_of_week=1),
            boundary=EndDatePattern(start=EWSDate(2026, 12, 1), end=EWSDate(2027, 1, 31)),
        ),
        Recurrence(
            pattern=RelativeMonthlyPattern(interval=1, weekday=9, week_number=5),
            boundary=NumberedPattern(start=EWSDate(2026, 12, 1), number=4),
        ),
        Recurrence(
            pattern=AbsoluteMonthlyPattern(interval=1, day_of_month=15),
            boundary=NoEndPattern(start=EWSDate(2026, 12, 1)),
        ),
    ],
    ids=["daily-numbered", "weekly-end-date", "last-weekday-monthly", "monthly-no-end"],
)
def test_a_series_with_exceptions_and_cancelled_occurrences_reads_the_same(
    mailbox: tuple[str, Account], graph: requests.Session, tenant: Tenant, recurrence: Recurrence
) -> None:
    email, account = mailbox
    tz = _zone("Europe/London")
    first = recurrence.boundary.start
    master = CalendarItem(
        folder=account.calendar,
        subject="Stand-up",
        start=EWSDateTime(first.year, first.month, first.day, 9, 0, tzinfo=tz),
        end=EWSDateTime(first.year, first.month, first.day, 9, 15, tzinfo=tz),
        recurrence=recurrence,
    )
    master._start_timezone = master._end_timezone = tz
    master.save(send_meeting_invitations="SendToNone")
    # Exchange refuses a restriction with a CalendarView: the view is filtered here
    occurrences = [
        o
        for o in account.calendar.view(
            start=EWSDateTime(2026, 11, 30, tzinfo=tz), end=EWSDateTime(2027, 2, 28, tzinfo=tz)
        )
        if o.subject == "Stand-up"
    ]
    assert len(occurrences) >= 3
    changed = occurrences[1]
    changed.subject, changed.location = "Stand-up (moved)", "Cafeteria"
    changed.start += dt.timedelta(hours=2)
    changed.end += dt.timedelta(hours=2)
    changed.save(
        update_fields=["subject", "location", "start", "end"], send_meeting_invitations="SendToNone"
    )
    occurrences[2].delete(send_meeting_cancellations="SendToNone")
    ews = _ews_canonical(account, master, ItemType.APPOINTMENT)
    assert ews["recurrence"] and ews["modified_occurrences"] and ews["deleted_occurrences"]
    assert _graph_event_canonical(graph, tenant, email, master.id) == ews


def test_a_contact_reads_the_same(
    mailbox: tuple[str, Account], graph: requests.Session, tenant: Tenant
) -> None:
    email, account = mailbox
    item = EwsContact(
        folder=account.contacts,
        given_name="Maria",
        middle_name="J.",
        surname="Lopez",
        display_name="Maria Lopez",
        job_title="Buyer",
        department="Purchasing",
        company_name="Acme",
        email_addresses=[
            EmailAddress(label="EmailAddress1", email="Maria@Acme.example"),
            EmailAddress(label="EmailAddress2", email="m.lopez@home.example"),
        ],
        phone_numbers=[
            PhoneNumber(label="BusinessPhone", phone_number="+1 555 0100"),
            PhoneNumber(label="HomePhone", phone_number="+1 555 0101"),
            PhoneNumber(label="MobilePhone", phone_number="+1 555 0102"),
            PhoneNumber(label="BusinessFax", phone_number="+1 555 0103"),
            PhoneNumber(label="HomeFax", phone_number="+1 555 0104"),
            PhoneNumber(label="OtherTelephone", phone_number="+1 555 0105"),
        ],
        physical_addresses=[
            PhysicalAddress(
                label="Business",
                street="1 Main St",
                city="Springfield",
                zipcode="12345",
                country="US",
            )
        ],
        categories=["Customer"],
        body="Prefers email.\nCall after 10.",
        birthday=EWSDate(1980, 5, 4),
    )
    item.save()
    ews = _ews_canonical(account, item, ItemType.CONTACT)
    contact = _graph_get(
        graph,
        tenant,
        email,
        f"contacts/{ids.rest_id(item.id)}",
        **{
            "$select": ",".join(GraphContactConverter.select),
            "$expand": expand(GraphContactConverter.extra_properties),
        },
    )
    assert GraphContactConverter().canonical(contact) == ews


@pytest.mark.parametrize("status", ["NotStarted", "InProgress", "Completed", "WaitingOnOthers"])
def test_a_task_reads_the_same(
    mailbox: tuple[str, Account], graph: requests.Session, tenant: Tenant, status: str
) -> None:
    email, account = mailbox
    item = EwsTask(
        folder=account.tasks,
        subject="Send the offer",
        body="With the new prices.",
        start_date=EWSDate(2026, 12, 1),
        due_date=EWSDate(2026, 12, 10),
        status=status,
        importance="High",
        categories=["Sales"],
    )
    if status == "InProgress":
        item.percent_complete = Decimal(40)
    if status == "Completed":
        item.complete_date = EWSDateTime(2026, 12, 9, 15, 0, tzinfo=ZoneInfo("UTC"))
    item.save()
    ews = _ews_canonical(account, item, ItemType.TASK)
    task_list = _graph_get(graph, tenant, email, "todo/lists")["value"][0]["id"]
    task = _graph_get(
        graph,
        tenant,
        email,
        f"todo/lists/{task_list}/tasks/{ids.rest_id(item.id)}",
        **{
            "$select": ",".join(GraphTaskConverter.select),
            "$expand": EXTENSION_EXPAND,
        },
    )
    graph_canonical = GraphTaskConverter().canonical(task)
    if status == "InProgress":
        # A todoTask has no percent complete (Graph v1.0): one set in Outlook is not seen,
        # only the one crmsync keeps in its open extension (none here).
        assert (ews["percent_complete"], graph_canonical["percent_complete"]) == (40, 0)
        graph_canonical["percent_complete"] = 40
    assert graph_canonical == ews
