"""Injected faults surface in exchangelib as the exceptions a real Exchange causes."""

from __future__ import annotations

import time

import pytest
from exchangelib import Account
from exchangelib.errors import (
    ErrorInternalServerTransientError,
    ErrorInvalidSyncStateData,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    TransportError,
    UnauthorizedError,
)

from ews_emulator.control import ControlClient


def test_server_busy_carries_its_back_off(account: Account, control: ControlClient) -> None:
    control.inject_fault(
        "server_busy", operation="FindItem", mailbox=account.primary_smtp_address, back_off_ms=2500
    )
    with pytest.raises(ErrorServerBusy) as caught:
        account.inbox.all().count()
    assert caught.value.back_off == 2.5
    assert account.inbox.all().count() == 0  # the fault was armed for one call only


def test_http_500_is_a_transient_server_error(account: Account, control: ControlClient) -> None:
    control.inject_fault("http_500", operation="FindItem", mailbox=account.primary_smtp_address)
    # exchangelib turns the transient error into ErrorServerBusy before FailFast gives up
    with pytest.raises((ErrorServerBusy, ErrorInternalServerTransientError)):
        account.inbox.all().count()


def test_http_503(account: Account, control: ControlClient) -> None:
    control.inject_fault("http_503", operation="FindItem", mailbox=account.primary_smtp_address)
    with pytest.raises((ErrorServerBusy, ErrorInternalServerTransientError)):
        account.inbox.all().count()


def test_dropped_connection(account: Account, control: ControlClient) -> None:
    control.inject_fault("drop", operation="FindItem", mailbox=account.primary_smtp_address)
    with pytest.raises((ErrorTimeoutExpired, ErrorServerBusy, TransportError)):
        account.inbox.all().count()
    assert account.inbox.all().count() == 0


def test_delay(account: Account, control: ControlClient) -> None:
    control.inject_fault(
        "delay", operation="FindItem", mailbox=account.primary_smtp_address, delay_ms=400
    )
    start = time.perf_counter()
    assert account.inbox.all().count() == 0
    assert time.perf_counter() - start >= 0.4


def test_invalid_sync_state(account: Account, control: ControlClient) -> None:
    list(account.calendar.sync_items())
    state = account.calendar.item_sync_state
    control.inject_fault(
        "invalid_sync_state", operation="SyncFolderItems", mailbox=account.primary_smtp_address
    )
    with pytest.raises(ErrorInvalidSyncStateData):
        list(account.calendar.sync_items(sync_state=state))
    assert list(account.calendar.sync_items(sync_state=state)) == []


def test_authentication_failure(account: Account, control: ControlClient) -> None:
    control.inject_fault("auth_failure", mailbox=account.primary_smtp_address, count=2)
    with pytest.raises(UnauthorizedError):
        account.inbox.all().count()
    with pytest.raises(UnauthorizedError):
        account.inbox.all().count()
    assert account.inbox.all().count() == 0


def test_faults_target_the_operation_and_mailbox(
    account: Account, control: ControlClient, account_factory: object
) -> None:
    other = account_factory()  # type: ignore[operator]
    control.inject_fault("server_busy", operation="GetItem", mailbox=account.primary_smtp_address)
    assert other.inbox.all().count() == 0
    assert account.inbox.all().count() == 0
    faults = [f for f in control.faults() if f["mailbox"] == account.primary_smtp_address]
    assert [(f["operation"], f["remaining"]) for f in faults] == [("GetItem", 1)]
    control.clear_faults()
    assert control.faults() == []
