"""SyncFolderItems: paging, change kinds, Ignore, invalid states."""

from __future__ import annotations

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone, Folder
from exchangelib.errors import ErrorInvalidSyncStateData, ErrorItemNotFound
from exchangelib.services import SyncFolderItems

from ews_emulator.control import ControlClient

UTC = EWSTimeZone("UTC")


def _page(account: Account, folder: object, state: str | None, size: int) -> tuple[list, str, bool]:
    service = SyncFolderItems(account=account)
    changes = list(
        service.call(
            folder=folder,
            shape="IdOnly",
            additional_fields=None,
            sync_state=state,
            ignore=None,
            max_changes_returned=size,
            sync_scope=None,
        )
    )
    return changes, service.sync_state, service.includes_last_item_in_range


def test_paging_1200_items_at_512_misses_and_repeats_nothing(
    account: Account, control: ControlClient
) -> None:
    ids = control.seed(account.primary_smtp_address, "calendar", 1200)
    seen: list[str] = []
    pages = []
    state = None
    while True:
        changes, state, last = _page(account, account.calendar, state, 512)
        pages.append(len(changes))
        seen.extend(item.id for kind, item in changes if kind == "create")
        assert all(kind == "create" for kind, _ in changes)
        if last:
            break
    assert pages == [512, 512, 176]
    assert len(seen) == len(set(seen)) == 1200
    assert set(seen) == set(ids)
    changes, state, last = _page(account, account.calendar, state, 512)
    assert (changes, last) == ([], True)


def test_changes_between_pages_are_reported_once(account: Account, control: ControlClient) -> None:
    mailbox = account.primary_smtp_address
    ids = control.seed(mailbox, "tasks", 10)
    changes, state, last = _page(account, account.tasks, None, 4)
    assert len(changes) == 4 and last is False
    first_page = [i.id for _, i in changes]
    control.update_item(first_page[0], {"Subject": "edited in Outlook"})
    control.update_item(ids[9], {"Subject": "edited before seen"})
    control.delete_item(first_page[1], mode="hard")
    rest: list[tuple[str, str]] = []
    while not last:
        changes, state, last = _page(account, account.tasks, state, 4)
        rest.extend((kind, item if isinstance(item, str) else item.id) for kind, item in changes)
    kinds = {}
    for kind, item_id in rest:
        assert item_id not in kinds, "an item was reported twice"
        kinds[item_id] = kind
    assert kinds[first_page[0]] == "update"
    assert kinds[first_page[1]] == "delete"
    assert kinds[ids[9]] == "create"
    assert set(kinds) == set(ids[4:]) | {first_page[0], first_page[1]}


def test_read_flag_change_and_ignore(account: Account, control: ControlClient) -> None:
    mailbox = account.primary_smtp_address
    ids = control.seed(mailbox, "messages", 3)
    list(account.inbox.sync_items())
    state = account.inbox.item_sync_state
    control.update_item(ids[0], {"IsRead": True})
    control.update_item(ids[1], {"Subject": "changed"})
    control.update_item(ids[2], {"Subject": "ignored change"})
    changes = list(account.inbox.sync_items(sync_state=state, ignore=[(ids[2], None)]))
    assert changes[0][0] == "read_flag_change"
    assert (changes[0][1][0].id, changes[0][1][1]) == (ids[0], True)
    assert [(k, i.id, i.subject) for k, i in changes[1:]] == [("update", ids[1], "changed")]


def test_outlook_changes_show_up_in_sync(account: Account, control: ControlClient) -> None:
    mailbox = account.primary_smtp_address
    list(account.calendar.sync_items())
    state = account.calendar.item_sync_state
    created = control.create_item(
        mailbox,
        "calendar",
        {
            "Subject": "Made in Outlook",
            "Start": "2024-01-02T10:00:00Z",
            "End": "2024-01-02T11:00:00Z",
        },
    )
    changes = list(account.calendar.sync_items(sync_state=state))
    assert [(k, i.id, i.subject) for k, i in changes] == [
        ("create", created["id"], "Made in Outlook")
    ]
    assert changes[0][1].start == EWSDateTime(2024, 1, 2, 10, tzinfo=UTC)
    state = account.calendar.item_sync_state
    control.delete_item(created["id"])
    assert [(k, i.id) for k, i in account.calendar.sync_items(sync_state=state)] == [
        ("delete", created["id"])
    ]
    assert [i["subject"] for i in control.items(mailbox, "deleteditems")] == ["Made in Outlook"]


def test_moves_between_folders_are_delete_and_create(account: Account) -> None:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Wanderer",
        start=EWSDateTime(2024, 1, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2024, 1, 1, 10, tzinfo=UTC),
    )
    item.save()
    list(account.calendar.sync_items())
    state = account.calendar.item_sync_state
    archive = Folder(parent=account.calendar, name="Archive")
    archive.save()
    old_id = item.id
    item.move(archive)  # exchangelib takes the new id from the MoveItem answer
    assert item.id != old_id
    assert [(k, i.id) for k, i in account.calendar.sync_items(sync_state=state)] == [
        ("delete", old_id)
    ]
    assert [(k, i.id, i.subject) for k, i in archive.sync_items()] == [
        ("create", item.id, "Wanderer")
    ]


def test_a_moved_or_soft_deleted_item_gets_a_new_id_and_the_old_one_is_not_found(
    account: Account, control: ControlClient
) -> None:
    # "MoveItem operation": the response holds the new item id; soft delete moves the item
    # to the recoverable items folder, which is a move too.
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Nomad",
        start=EWSDateTime(2024, 1, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2024, 1, 1, 10, tzinfo=UTC),
    )
    item.save()
    first = item.id
    item.move(account.trash)
    second = item.id
    item.move(account.calendar)
    third = item.id
    assert len({first, second, third}) == 3
    (gone, gone_too, found) = account.fetch(ids=[(first, None), (second, None), (third, None)])
    assert isinstance(gone, ErrorItemNotFound) and isinstance(gone_too, ErrorItemNotFound)
    assert found.subject == "Nomad"
    control.delete_item(third, mode="soft")
    (soft,) = account.fetch(ids=[(third, None)])
    assert isinstance(soft, ErrorItemNotFound)
    assert [i["subject"] for i in control.items(account.primary_smtp_address, "calendar")] == []


@pytest.mark.parametrize(
    "state",
    ["not-base64!!", "QUJD", "B0l8Zm9vfDEyMzQ1Njc4OTAxMg=="],
    ids=["garbage", "short", "forged"],
)
def test_corrupt_state_is_invalid_sync_state_data(account: Account, state: str) -> None:
    with pytest.raises(ErrorInvalidSyncStateData):
        list(account.calendar.sync_items(sync_state=state))


def test_state_of_another_folder_is_invalid(account: Account) -> None:
    list(account.calendar.sync_items())
    with pytest.raises(ErrorInvalidSyncStateData):
        list(account.tasks.sync_items(sync_state=account.calendar.item_sync_state))


def test_a_page_of_512_items_is_one_answer(account: Account, control: ControlClient) -> None:
    # Its latency is a figure of bench/ews_emulator.py, not a timed test (it failed under
    # the load of a shared machine).
    control.seed(account.primary_smtp_address, "calendar", 512)
    changes, _, last = _page(account, account.calendar, None, 512)
    assert len(changes) == 512 and last is True
