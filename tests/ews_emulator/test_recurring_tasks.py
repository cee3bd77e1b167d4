"""Recurring tasks regenerate as "UpdateItem operation (task)" says: completing (or, for a
non-regenerating task, re-dating) the current occurrence makes a one-off task, answered by
UpdateItem, and the recurring task keeps its id and moves on to the next occurrence.
exchangelib is the client."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from exchangelib import Account, Task
from exchangelib.recurrence import (
    DailyPattern,
    DailyRegeneration,
    EndDatePattern,
    TaskRecurrence,
    WeeklyPattern,
)

from ews_emulator.control import ControlClient


def _tasks(account: Account, category: str) -> list[Task]:
    return list(account.tasks.filter(categories__contains=[category]))


def test_completing_an_occurrence_makes_a_one_off_and_moves_the_series_on(
    account: Account,
) -> None:
    recurrence = TaskRecurrence(
        pattern=DailyPattern(interval=1), start=dt.date(2016, 1, 1), number=4
    )
    master = Task(
        folder=account.tasks, subject="Water plants", categories=["rt1"], recurrence=recurrence
    ).save()
    master_id = master.id
    master.refresh()
    assert master.is_recurring and master.change_count == 1

    master.status = Task.COMPLETED
    answered = master.save()
    assert answered.id != master_id  # the UpdateItem answer is the new one-off
    one_off = account.tasks.get(id=answered.id)
    assert not one_off.is_recurring and one_off.recurrence is None
    assert one_off.status == Task.COMPLETED and one_off.percent_complete == Decimal(100)
    assert one_off.subject == "Water plants" and one_off.due_date == dt.date(2016, 1, 1)

    series = account.tasks.get(id=master_id)  # the request's id is still valid
    assert series.is_recurring and series.status == Task.NOT_STARTED
    assert series.due_date == dt.date(2016, 1, 2)  # the next occurrence
    assert series.recurrence.boundary.number == 3  # one less
    assert series.change_count == 2
    assert len(_tasks(account, "rt1")) == 2


def test_redating_a_non_regenerating_task_makes_a_one_off(account: Account) -> None:
    """exchangelib's own test_recurring_item, as Exchange answered it."""
    recurrence = TaskRecurrence(
        pattern=DailyPattern(interval=1), start=dt.date(2016, 1, 1), number=4
    )
    master_id = Task(folder=account.tasks, categories=["rt2"], recurrence=recurrence).save().id
    master = account.tasks.get(id=master_id)
    master.recurrence.boundary.start = dt.date(2016, 2, 1)
    occurrence = master.save()
    occurrence.refresh()
    assert occurrence.is_recurring is False
    assert len(_tasks(account, "rt2")) == 2
    master = account.tasks.get(id=master_id)
    assert master.change_count == 2
    assert master.due_date == dt.date(2016, 1, 2)
    assert master.recurrence.boundary.number == 3

    master.status = Task.COMPLETED
    occurrence = master.save()
    occurrence.refresh()
    assert occurrence.is_recurring is False
    assert len(_tasks(account, "rt2")) == 3
    master = account.tasks.get(id=master_id)
    assert master.change_count == 3
    assert master.due_date == dt.date(2016, 2, 1)  # the pattern now starts there
    assert master.recurrence.boundary.number == 2


def test_a_regenerating_task_regenerates_from_the_completion_day(account: Account) -> None:
    recurrence = TaskRecurrence(
        pattern=DailyRegeneration(interval=3), start=dt.date(2016, 1, 1), number=4
    )
    master_id = Task(folder=account.tasks, categories=["rt3"], recurrence=recurrence).save().id
    master = account.tasks.get(id=master_id)
    master.recurrence.boundary.start = dt.date(2016, 1, 2)
    unchanged = master.save()
    assert unchanged.id == master_id  # re-dating a regenerating task generates nothing
    assert len(_tasks(account, "rt3")) == 1

    master = account.tasks.get(id=master_id)
    master.status = Task.COMPLETED
    assert master.save().id != master_id
    master = account.tasks.get(id=master_id)
    today = dt.datetime.now(dt.UTC).date()
    assert master.due_date == today + dt.timedelta(days=3)
    assert master.recurrence.boundary.number == 3
    assert len(_tasks(account, "rt3")) == 2


def test_the_last_occurrence_completes_in_place(account: Account) -> None:
    recurrence = TaskRecurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[1]),
        boundary=EndDatePattern(start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 8)),
    )
    master_id = Task(folder=account.tasks, categories=["rt4"], recurrence=recurrence).save().id
    master = account.tasks.get(id=master_id)
    master.status = Task.COMPLETED
    assert master.save().id != master_id  # 1 January, the next one 8 January
    master = account.tasks.get(id=master_id)
    assert master.due_date == dt.date(2024, 1, 8)
    master.status = Task.COMPLETED
    assert master.save().id == master_id  # no occurrence after 8 January: same id
    master = account.tasks.get(id=master_id)
    assert master.status == Task.COMPLETED
    assert len(_tasks(account, "rt4")) == 2


def test_a_plain_task_completes_in_place(account: Account) -> None:
    task = Task(folder=account.tasks, subject="Once", categories=["rt5"]).save()
    task_id = task.id
    task.status = Task.COMPLETED
    assert task.save().id == task_id
    assert len(_tasks(account, "rt5")) == 1


def test_outlook_completing_an_occurrence_through_the_control_api(
    account: Account, control: ControlClient
) -> None:
    recurrence = TaskRecurrence(
        pattern=DailyPattern(interval=2), start=dt.date(2024, 3, 1), number=5
    )
    master_id = Task(folder=account.tasks, categories=["rt6"], recurrence=recurrence).save().id
    answered = control.update_item(master_id, {"Status": "Completed"})
    assert answered["id"] != master_id
    series = account.tasks.get(id=master_id)
    assert series.due_date == dt.date(2024, 3, 3) and series.status == Task.NOT_STARTED
    assert len(_tasks(account, "rt6")) == 2
