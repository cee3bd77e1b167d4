"""The control API and its client."""

from __future__ import annotations

import pytest
from exchangelib import Account

from ews_emulator.control import ControlClient, ControlError


def test_bulk_seed_is_visible(account: Account, control: ControlClient) -> None:
    # How fast seeding is, bench/ews_emulator.py reports (seed_512_calendar_items_s).
    ids = control.seed(account.primary_smtp_address, "contacts", 2000)
    assert len(set(ids)) == 2000
    assert account.contacts.all().count() == 2000
    first = account.contacts.get(id=ids[0])
    assert (first.given_name, first.surname) == ("First0", "Last0")
    assert [e.email for e in first.email_addresses] == ["contact0@example.org"]


def test_inspect_mailbox(account: Account, control: ControlClient) -> None:
    mailbox = account.primary_smtp_address
    created = control.create_item(
        mailbox, "tasks", {"Subject": "Inspect me", "Categories": ["A", "B"]}
    )
    folders = {f["distinguished"]: f for f in control.folders(mailbox)}
    assert folders["tasks"]["total"] == 1
    assert {"inbox", "calendar", "contacts", "tasks", "drafts"} <= set(folders)
    listed = control.items(mailbox, "tasks")
    assert [(i["id"], i["subject"]) for i in listed] == [(created["id"], "Inspect me")]
    detail = control.item(created["id"])
    assert detail["fields"]["Categories"] == ["A", "B"]
    assert detail["fields"]["Status"] == "NotStarted"
    assert detail["change_key"] == created["change_key"]


def test_outlook_edit_moves_change_key(account: Account, control: ControlClient) -> None:
    created = control.create_item(
        account.primary_smtp_address, "contacts", {"GivenName": "Edit", "Surname": "Me"}
    )
    edited = control.update_item(created["id"], {"JobTitle": "CTO"}, delete=["Surname"])
    assert edited["change_key"] != created["change_key"]
    got = account.contacts.get(id=created["id"])
    assert (got.job_title, got.surname, got.changekey) == ("CTO", None, edited["change_key"])


def test_errors_are_reported(control: ControlClient) -> None:
    with pytest.raises(ControlError) as caught:
        control.items("nobody@example.com")
    assert caught.value.status == 404
    with pytest.raises(ControlError):
        control.inject_fault("meteor_strike")
