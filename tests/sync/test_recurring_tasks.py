"""A recurring task in Exchange: completing its current occurrence makes a one-off task
(a new item, a copy carrying the series' properties, the CRM's stamp among them) and moves
the series on to its next occurrence ("UpdateItem operation (task)"). Whether Outlook or
the CRM completes it, the CRM ends with the completed task and the open next one, each
linked to its own item and stamped with its own record id, and no duplicate."""

import datetime as dt

import pytest
from exchangelib import Task as EwsTask
from exchangelib.recurrence import DailyPattern, TaskRecurrence

from activities.models import ChangeOrigin, Task
from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.ews import account_for
from mailboxes.connectors.ews.stamp import FIELD
from mailboxes.models import ExchangeSyncIdMapping, Mailbox
from tests.sync.helpers import emulated_mailbox, sync

pytestmark = pytest.mark.django_db


def _series(mailbox: Mailbox) -> str:
    """A daily task of four occurrences from 1 March 2030, made in Outlook and synced."""
    account = account_for(mailbox)
    recurrence = TaskRecurrence(
        pattern=DailyPattern(interval=1), start=dt.date(2030, 3, 1), number=4
    )
    task = EwsTask(folder=account.tasks, subject="Water the plants", recurrence=recurrence)
    task.save()
    sync(mailbox)
    (record,) = Task.objects.filter(owner_user=mailbox.user)
    assert record.due_date is not None and record.due_date.date() == dt.date(2030, 3, 1)
    return str(task.id)


def _linked(mailbox: Mailbox) -> dict[str, Task]:
    """Each mapped item's record, after checking that every item in the Tasks folder is
    mapped once and carries its own record's id."""
    account = account_for(mailbox)
    mappings = list(ExchangeSyncIdMapping.objects.filter(mailbox=mailbox))
    items = {i.id: i for i in account.tasks.all().only("subject", FIELD)}
    assert sorted(m.exchange_item_id for m in mappings) == sorted(items)
    assert len({m.crm_object_id for m in mappings}) == len(mappings)
    for m in mappings:
        assert getattr(items[m.exchange_item_id], FIELD) == str(m.crm_object_id)
    return {m.exchange_item_id: Task.objects.get(pk=m.crm_object_id) for m in mappings}


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def test_outlook_completing_an_occurrence_gives_the_crm_the_completed_and_the_next_task(
    ews: EmulatorProcess,
) -> None:
    mailbox = emulated_mailbox(ews)
    series_id = _series(mailbox)

    one_off = ews.control.update_item(series_id, {"Status": "Completed"})["id"]
    sync(mailbox)

    linked = _linked(mailbox)
    assert Task.objects.filter(owner_user=mailbox.user).count() == 2
    done, next_one = linked[one_off], linked[series_id]
    assert (done.status, _day(done.due_date)) == (Task.Status.COMPLETED, dt.date(2030, 3, 1))
    assert (next_one.status, _day(next_one.due_date)) == (
        Task.Status.NOT_STARTED,
        dt.date(2030, 3, 2),
    )
    assert done.subject == next_one.subject == "Water the plants"
    sync(mailbox)  # the marks written are read back once
    assert sync(mailbox).items_processed == 0
    assert _linked(mailbox) == linked


def test_the_crm_completing_an_occurrence_keeps_its_record_completed_and_adds_the_next(
    ews: EmulatorProcess,
) -> None:
    mailbox = emulated_mailbox(ews)
    series_id = _series(mailbox)
    (record,) = Task.objects.filter(owner_user=mailbox.user)

    record.status = Task.Status.COMPLETED
    record.percent_complete = 100
    record.change_origin = ChangeOrigin.CRM_USER  # a person's edit in the CRM
    record.save()
    sync(mailbox)  # pushes the completion: Exchange makes a one-off
    sync(mailbox)  # pulls the series' next occurrence

    linked = _linked(mailbox)
    assert Task.objects.filter(owner_user=mailbox.user).count() == 2
    record.refresh_from_db()
    assert record.status == Task.Status.COMPLETED
    assert _day(record.due_date) == dt.date(2030, 3, 1)
    (next_one,) = Task.objects.filter(owner_user=mailbox.user).exclude(pk=record.pk)
    assert linked[series_id] == next_one
    assert (next_one.status, _day(next_one.due_date)) == (
        Task.Status.NOT_STARTED,
        dt.date(2030, 3, 2),
    )
    sync(mailbox)
    assert sync(mailbox).items_processed == 0
    assert _linked(mailbox) == linked
