"""GetServerTimeZones and GetUserAvailability (free/busy), with exchangelib as the client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorMailRecipientNotFound
from exchangelib.properties import FreeBusyView, TimeZone

UTC = EWSTimeZone("UTC")


def test_server_time_zones_carry_the_windows_rules(account: Account) -> None:
    names = list(account.protocol.get_timezones())
    assert 100 <= len(names) <= 160
    assert all(d.periods is None for d in names)  # ids and names only, unless asked
    full = {d.id: d for d in account.protocol.get_timezones(return_full_timezone_data=True)}
    standard, daylight, period = full["W. Europe Standard Time"].get_std_and_dst(2024)
    assert period.bias_in_minutes == -60
    # back to standard time on the last Sunday of October at 3:00, daylight on the last
    # Sunday of March at 2:00, one hour ahead
    assert (standard.iso_month, standard.occurrence, standard.weekday) == (10, 5, 7)
    assert standard.time == dt.time(3, 0)
    assert (daylight.iso_month, daylight.occurrence, daylight.time) == (3, 5, dt.time(2, 0))
    assert daylight.bias == -60
    eastern = full["Eastern Standard Time"].get_std_and_dst(2024)
    assert (eastern[0].iso_month, eastern[0].occurrence) == (11, 1)
    assert (eastern[1].iso_month, eastern[1].occurrence) == (3, 2)
    # a zone without daylight saving time has one period and no yearly changes
    tokyo = full["Tokyo Standard Time"]
    assert [p.name for p in tokyo.periods] == ["Standard"]
    assert TimeZone.from_server_timezone(tokyo, 2024).bias == -540
    only = list(account.protocol.get_timezones(timezones=[EWSTimeZone("Europe/Berlin")]))
    assert [d.id for d in only] == ["W. Europe Standard Time"]


def test_free_busy_of_own_and_other_mailboxes(
    account_factory: Callable[..., Account],
) -> None:
    alice, bob = account_factory(), account_factory()
    start = EWSDateTime(2030, 3, 4, 8, tzinfo=UTC)
    for subject, hours, status in (("Review", (9, 10), "Busy"), ("Maybe", (11, 12), "Tentative")):
        CalendarItem(
            account=bob,
            folder=bob.calendar,
            subject=subject,
            start=EWSDateTime(2030, 3, 4, hours[0], tzinfo=UTC),
            end=EWSDateTime(2030, 3, 4, hours[1], tzinfo=UTC),
            legacy_free_busy_status=status,
        ).save()
    end = start + dt.timedelta(hours=6)
    mine, theirs, nobody = alice.protocol.get_free_busy_info(
        accounts=[
            (alice, "Organizer", False),
            (bob.primary_smtp_address, "Required", False),
            ("nobody@example.com", "Required", False),
        ],
        start=start,
        end=end,
        merged_free_busy_interval=60,
        requested_view="DetailedMerged",
    )
    assert isinstance(mine, FreeBusyView) and mine.calendar_events == []
    assert isinstance(nobody, ErrorMailRecipientNotFound)
    # alice may see bob's free/busy times, not his subjects: the view is downgraded
    assert isinstance(theirs, FreeBusyView)
    assert theirs.view_type == "FreeBusyMerged"
    assert theirs.merged == "020100"  # one digit an hour: 9-10 busy, 11-12 tentative
    assert [(e.start.hour, e.end.hour, e.busy_type, e.details) for e in theirs.calendar_events] == [
        (9, 10, "Busy", None),
        (11, 12, "Tentative", None),
    ]
    [own] = bob.protocol.get_free_busy_info(
        accounts=[(bob, "Organizer", False)], start=start, end=end, requested_view="Detailed"
    )
    assert [e.details.subject for e in own.calendar_events] == ["Review", "Maybe"]
    assert [p.start for p in own.working_hours] == [dt.time(8, 0)]
    assert own.working_hours_timezone.bias == 0
    # a client in Berlin asks in its own zone and reads the times in it (UTC+1 in March)
    berlin = EWSTimeZone("Europe/Berlin")
    alice.default_timezone = berlin
    [local] = alice.protocol.get_free_busy_info(
        accounts=[(bob.primary_smtp_address, "Required", False)],
        start=EWSDateTime(2030, 3, 4, 9, tzinfo=berlin),
        end=EWSDateTime(2030, 3, 4, 15, tzinfo=berlin),
    )
    assert [(e.start.hour, e.start.tzinfo) for e in local.calendar_events] == [
        (10, berlin),
        (12, berlin),
    ]
