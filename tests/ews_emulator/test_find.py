"""FindItem: paging, restrictions, sorting, calendar views with recurring series."""

from __future__ import annotations

from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone, Q
from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence, WeeklyPattern

from ews_emulator.control import ControlClient

UTC = EWSTimeZone("UTC")
TZ = EWSTimeZone("Europe/Copenhagen")


def test_paging_sorting_and_restrictions(account: Account, control: ControlClient) -> None:
    control.seed(account.primary_smtp_address, "tasks", 25)
    folder = account.tasks
    assert folder.all().count() == 25
    page = list(folder.all().order_by("-subject").only("subject")[3:8])
    expected = sorted((f"Seeded task {n}" for n in range(25)), reverse=True)[3:8]
    assert [t.subject for t in page] == expected
    assert [t.subject for t in folder.filter(subject="Seeded task 7")] == ["Seeded task 7"]
    assert folder.filter(subject__contains="task 1").count() == 11  # 1, 10..19
    assert folder.filter(subject__icontains="TASK 2").count() == 6  # 2, 20..24
    assert folder.filter(subject__startswith="Seeded task 2").count() == 6
    either = folder.filter(Q(subject="Seeded task 1") | Q(subject="Seeded task 2"))
    assert sorted(t.subject for t in either) == ["Seeded task 1", "Seeded task 2"]
    assert folder.filter(~Q(subject__contains="task 1")).count() == 14
    assert folder.exclude(subject__in=["Seeded task 3", "Seeded task 4"]).count() == 23


def test_datetime_and_boolean_restrictions(account: Account, control: ControlClient) -> None:
    mailbox = account.primary_smtp_address
    for n, start in enumerate(
        ["2024-05-01T08:00:00Z", "2024-05-02T08:00:00Z", "2024-05-03T08:00:00Z"]
    ):
        control.create_item(
            mailbox,
            "calendar",
            {
                "Subject": f"slot {n}",
                "Start": start,
                "End": start.replace("08:", "09:"),
                "IsAllDayEvent": n == 2,
            },
        )
    cal = account.calendar
    after = cal.filter(start__gte=EWSDateTime(2024, 5, 2, tzinfo=UTC)).order_by("start")
    assert [i.subject for i in after] == ["slot 1", "slot 2"]
    assert [i.subject for i in cal.filter(is_all_day=True)] == ["slot 2"]
    assert [
        i.subject
        for i in cal.filter(
            start__range=(
                EWSDateTime(2024, 5, 1, 12, tzinfo=UTC),
                EWSDateTime(2024, 5, 2, 12, tzinfo=UTC),
            )
        )
    ] == ["slot 1"]


def test_calendar_view_expands_recurring_series(account: Account) -> None:
    cal = account.calendar
    series = CalendarItem(
        account=account,
        folder=cal,
        subject="Standup",
        start=EWSDateTime(2024, 3, 25, 9, 0, tzinfo=TZ),  # Monday, before the DST change
        end=EWSDateTime(2024, 3, 25, 9, 15, tzinfo=TZ),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1),
            boundary=NumberedPattern(start=EWSDateTime(2024, 3, 25).date(), number=7),
        ),
    )
    series.save()
    master = cal.get(id=series.id)
    # IsRecurring is "part of a recurring item": false for the master, true for occurrences.
    assert master.type == "RecurringMaster" and master.is_recurring is False
    assert master.first_occurrence.start == EWSDateTime(2024, 3, 25, 8, 0, tzinfo=UTC)
    assert master.last_occurrence.start == EWSDateTime(2024, 3, 31, 7, 0, tzinfo=UTC)  # CEST
    view = list(
        cal.view(
            start=EWSDateTime(2024, 3, 24, tzinfo=UTC), end=EWSDateTime(2024, 4, 10, tzinfo=UTC)
        )
    )
    assert len(view) == 7
    assert all(o.type == "Occurrence" and o.subject == "Standup" for o in view)
    assert all(o.is_recurring for o in view)
    local_times = {o.start.astimezone(TZ).time() for o in view}
    assert [str(t) for t in local_times] == ["09:00:00"]

    second = view[1]
    second.subject = "Standup (moved)"
    second.start = second.start + (EWSDateTime(2024, 1, 1, 1) - EWSDateTime(2024, 1, 1))
    second.end = second.end + (EWSDateTime(2024, 1, 1, 1) - EWSDateTime(2024, 1, 1))
    second.save(update_fields=["subject", "start", "end"])
    view[2].delete()
    master = cal.get(id=series.id)
    assert [o.start for o in master.modified_occurrences] == [
        EWSDateTime(2024, 3, 26, 9, 0, tzinfo=UTC)
    ]
    assert [o.start for o in master.deleted_occurrences] == [
        EWSDateTime(2024, 3, 27, 8, 0, tzinfo=UTC)
    ]
    view = list(
        cal.view(
            start=EWSDateTime(2024, 3, 24, tzinfo=UTC), end=EWSDateTime(2024, 4, 10, tzinfo=UTC)
        )
    )
    assert len(view) == 6
    assert [(o.type, o.subject) for o in view if o.type == "Exception"] == [
        ("Exception", "Standup (moved)")
    ]
    assert cal.all().count() == 1  # FindItem without a view lists the series once


def test_weekly_pattern_in_view(account: Account) -> None:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Gym",
        start=EWSDateTime(2024, 1, 1, 18, tzinfo=UTC),
        end=EWSDateTime(2024, 1, 1, 19, tzinfo=UTC),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1, 3]),
            start=EWSDateTime(2024, 1, 1).date(),
            end=EWSDateTime(2024, 1, 31).date(),
        ),
    )
    item.save()
    view = list(
        account.calendar.view(
            start=EWSDateTime(2024, 1, 1, tzinfo=UTC), end=EWSDateTime(2024, 2, 1, tzinfo=UTC)
        )
    )
    assert [o.start.day for o in view] == [1, 3, 8, 10, 15, 17, 22, 24, 29, 31]


def test_recurrence_range_dates_are_dates(account: Account) -> None:
    """A recurrence range's StartDate comes back as a date (with the series zone's offset),
    not a UTC datetime."""
    from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence

    series = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Dates",
        start=EWSDateTime(2024, 1, 8, 9, tzinfo=TZ),
        end=EWSDateTime(2024, 1, 8, 10, tzinfo=TZ),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1),
            boundary=NumberedPattern(start=EWSDateTime(2024, 1, 8).date(), number=3),
        ),
    )
    series.save()
    fetched = account.calendar.get(id=series.id)
    assert fetched.recurrence.boundary.start == EWSDateTime(2024, 1, 8).date()
    assert type(fetched.recurrence.boundary.start).__name__ == "EWSDate"


def test_calendar_view_refuses_restrictions(account: Account) -> None:
    from exchangelib.errors import ErrorInvalidOperation

    view = account.calendar.view(
        start=EWSDateTime(2024, 1, 1, tzinfo=UTC), end=EWSDateTime(2024, 2, 1, tzinfo=UTC)
    )
    assert list(view) == []
    try:
        view.filter(subject="x").count()
    except ErrorInvalidOperation as e:
        assert "CalendarView" in str(e)
    else:
        raise AssertionError("a restriction with a CalendarView was accepted")
