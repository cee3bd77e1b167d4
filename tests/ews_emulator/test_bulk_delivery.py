"""Delivering many raw messages through the control API in one call."""

from __future__ import annotations

import pytest
from exchangelib import Account

from ews_emulator.control import ControlClient, ControlError


def _raw(n: int, to: str) -> bytes:
    return (
        f"From: Sender {n} <sender{n}@client.test>\r\nTo: {to}\r\n"
        f"Subject: Bulk {n}\r\nMessage-ID: <bulk-{n}@client.test>\r\n"
        "Date: Thu, 6 Mar 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Body {n}\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="file-{n}.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b--\r\n"
    ).encode()


def test_deliver_many_puts_every_message_in_the_inbox(
    account: Account, control: ControlClient
) -> None:
    address = account.primary_smtp_address

    ids = control.deliver_many(address, [_raw(n, address) for n in range(30)])

    assert len(set(ids)) == 30
    items = {item.id: item for item in account.inbox.all().only("subject", "message_id")}
    assert set(items) == set(ids)
    assert items[ids[7]].subject == "Bulk 7"
    assert items[ids[7]].message_id == "<bulk-7@client.test>"
    got = account.inbox.get(id=ids[29])
    assert [a.name for a in got.attachments] == ["file-29.bin"]
    assert b"Body 29" in got.mime_content


def test_deliver_many_refuses_an_empty_list(account: Account, control: ControlClient) -> None:
    with pytest.raises(ControlError) as caught:
        control.deliver_many(account.primary_smtp_address, [])

    assert caught.value.status == 400
    assert control.items(account.primary_smtp_address, "inbox") == []
