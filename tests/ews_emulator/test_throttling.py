"""Throttling as Exchange does it ("EWS throttling in Exchange"): a spent budget answers
ErrorServerBusy with BackOffMilliseconds (the `server_busy` fault, test_faults.py), and a
user's requests in progress beyond EWSMaxConcurrency are refused with ErrorServerBusy at
once, other users unaffected.

The concurrent requests are posted with `requests`: in our runs exchangelib did not send a
second request before the first one's answer, even from another Account."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from ews_emulator.testing import EmulatorProcess, run_emulator
from tests.ews_emulator.conftest import PASSWORD

ANN, BOB = "ann@example.com", "bob@example.com"
GET_INBOX = b"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></s:Body>
</s:Envelope>"""


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator allowing one request in progress per user."""
    db = tmp_path_factory.mktemp("ews-narrow") / "ews.db"
    with run_emulator(
        db, users=[(ANN, PASSWORD), (BOB, PASSWORD)], extra_args=["--max-concurrency", "1"]
    ) as ews:
        yield ews


def _get_inbox(ews: EmulatorProcess, user: str) -> requests.Response:
    return requests.post(
        ews.ews_url,
        data=GET_INBOX,
        auth=(user, PASSWORD),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )


def test_a_request_beyond_the_users_concurrency_limit_is_server_busy(
    narrow: EmulatorProcess,
) -> None:
    narrow.control.inject_fault("delay", operation="GetFolder", mailbox=ANN, delay_ms=1500)
    answers: list[requests.Response] = []
    slow = threading.Thread(target=lambda: answers.append(_get_inbox(narrow, ANN)))
    slow.start()
    time.sleep(0.5)
    try:
        busy = _get_inbox(narrow, ANN)
        assert busy.status_code == 500
        assert ">a:ErrorServerBusy</faultcode>" in busy.text
        assert "exceeded the available concurrent connections" in busy.text
        assert "MaxConcurrency" in busy.text
        assert _get_inbox(narrow, BOB).status_code == 200  # another user is served meanwhile
    finally:
        slow.join()
    assert [a.status_code for a in answers] == [200]
    assert _get_inbox(narrow, ANN).status_code == 200  # and Ann again once hers is done
