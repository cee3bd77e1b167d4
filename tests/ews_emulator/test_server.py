"""The process: start-up, endpoint, authentication, versions, persistence, sharing a file."""

from __future__ import annotations

import base64
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from exchangelib import Account, Message
from exchangelib.errors import UnauthorizedError
from lxml import etree

from ews_emulator.testing import PACKAGE_ROOT as ROOT
from ews_emulator.testing import EmulatorProcess, run_emulator
from tests.waiting import eventually

from .conftest import PASSWORD, make_account

SOAP = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<s:Header><t:RequestServerVersion Version="{version}"/></s:Header>
<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></s:Body>
</s:Envelope>"""
NS = {
    "s": "http://schemas.xmlsoap.org/soap/envelope/",
    "t": "http://schemas.microsoft.com/exchange/services/2006/types",
    "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
}


def _post(url: str, body: str, user: str, password: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    request.add_header("Content-Type", "text/xml; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_starts_fast_and_prints_its_endpoint_first(tmp_path: Path) -> None:
    start = time.perf_counter()
    with run_emulator(tmp_path / "a.db") as ews:
        elapsed = time.perf_counter() - start
        assert ews.ews_url.startswith("http://127.0.0.1:")
        assert ews.ews_url.endswith("/EWS/Exchange.asmx")
        assert ews.control.health()["pid"] == ews.pid
    assert elapsed < 3.0  # includes the interpreter start; the bench measures it precisely
    assert ews.process.returncode is not None


@pytest.mark.parametrize("version", ["Exchange2010_SP2", "Exchange2013", "Exchange2016"])
def test_every_response_carries_server_version_info(
    emulator: EmulatorProcess, version: str
) -> None:
    status, body, _ = _post(
        emulator.ews_url, SOAP.format(version=version), "alice@example.com", PASSWORD
    )
    assert status == 200
    root = etree.fromstring(body)
    info = root.find("s:Header/t:ServerVersionInfo", NS)
    assert info is not None and info.get("MajorVersion") == "15"
    assert info.get("Version") == version
    assert root.findtext(".//t:DisplayName", namespaces=NS) == "Inbox"


def test_unsupported_version_is_a_soap_fault(emulator: EmulatorProcess) -> None:
    status, body, _ = _post(
        emulator.ews_url, SOAP.format(version="Exchange2007"), "alice@example.com", PASSWORD
    )
    assert status == 500
    root = etree.fromstring(body)
    assert root.find("s:Header/t:ServerVersionInfo", NS) is not None
    assert root.findtext(".//faultcode").endswith("ErrorInvalidServerVersion")


def test_bad_password_is_401_with_basic_challenge(emulator: EmulatorProcess) -> None:
    status, _, headers = _post(
        emulator.ews_url, SOAP.format(version="Exchange2016"), "alice@example.com", "wrong"
    )
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")


def test_bad_password_is_unauthorized_in_exchangelib(emulator: EmulatorProcess) -> None:
    account = make_account(emulator.ews_url, "alice@example.com", password="wrong")
    with pytest.raises(UnauthorizedError):
        account.inbox.all().count()


def test_restart_keeps_the_state(tmp_path: Path) -> None:
    db = tmp_path / "persist.db"
    users = [("carol@example.com", PASSWORD)]
    with run_emulator(db, users=users) as ews:
        account = make_account(ews.ews_url, "carol@example.com")
        Message(account=account, folder=account.drafts, subject="survives").save()
        list(account.drafts.sync_items())
        state = account.drafts.item_sync_state
    with run_emulator(db, users=users) as ews:
        account = make_account(ews.ews_url, "carol@example.com")
        assert [m.subject for m in account.drafts.all()] == ["survives"]
        assert list(account.drafts.sync_items(sync_state=state)) == []


def test_two_processes_on_one_file_see_the_same_mailboxes(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    users = [("dave@example.com", PASSWORD)]
    with run_emulator(db, users=users) as first, run_emulator(db, users=users) as second:
        assert first.pid != second.pid
        a = make_account(first.ews_url, "dave@example.com")
        b = make_account(second.ews_url, "dave@example.com")
        list(b.inbox.sync_items())
        state = b.inbox.item_sync_state
        message = Message(account=a, folder=a.inbox, subject="from the first")
        message.save()
        changes = list(b.inbox.sync_items(sync_state=state))
        assert [(k, i.id, i.subject) for k, i in changes] == [
            ("create", message.id, "from the first")
        ]
        second.control.set_password("dave@example.com", "rotated")
        with pytest.raises(UnauthorizedError):
            make_account(first.ews_url, "dave@example.com").inbox.all().count()
        rotated = make_account(first.ews_url, "dave@example.com", password="rotated")
        assert rotated.inbox.all().count() == 1


def test_distinguished_folders_exist(account: Account) -> None:
    names = {
        "inbox": account.inbox.name,
        "sentitems": account.sent.name,
        "deleteditems": account.trash.name,
        "drafts": account.drafts.name,
        "calendar": account.calendar.name,
        "contacts": account.contacts.name,
        "tasks": account.tasks.name,
        "junkemail": account.junk.name,
        "outbox": account.outbox.name,
        "msgfolderroot": account.msg_folder_root.name,
    }
    assert names == {
        "inbox": "Inbox",
        "sentitems": "Sent Items",
        "deleteditems": "Deleted Items",
        "drafts": "Drafts",
        "calendar": "Calendar",
        "contacts": "Contacts",
        "tasks": "Tasks",
        "junkemail": "Junk Email",
        "outbox": "Outbox",
        "msgfolderroot": "Top of Information Store",
    }


def test_ntlm_is_detected_and_works(tmp_path: Path) -> None:
    from exchangelib import Configuration, Credentials, FailFast, Version
    from exchangelib.version import EXCHANGE_2016

    users = [("nina@example.com", PASSWORD)]
    with run_emulator(tmp_path / "ntlm.db", users=users, extra_args=["--ntlm"]) as ews:
        config = Configuration(
            service_endpoint=ews.ews_url,
            credentials=Credentials("nina@example.com", PASSWORD),
            version=Version(build=EXCHANGE_2016),
            retry_policy=FailFast(),
        )
        account = Account(
            "nina@example.com", config=config, autodiscover=False, access_type="delegate"
        )
        Message(account=account, folder=account.drafts, subject="over NTLM").save()
        assert account.protocol.auth_type == "NTLM"
        assert [m.subject for m in account.drafts.all()] == ["over NTLM"]
        wrong = Configuration(
            service_endpoint=ews.ews_url,
            credentials=Credentials("nina@example.com", "wrong"),
            auth_type="NTLM",
            version=Version(build=EXCHANGE_2016),
            retry_policy=FailFast(),
        )
        with pytest.raises(UnauthorizedError):
            Account(
                "nina@example.com", config=wrong, autodiscover=False, access_type="delegate"
            ).drafts.all().count()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls(tmp_path: Path) -> None:
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    users = [("tess@example.com", PASSWORD)]
    with run_emulator(
        tmp_path / "tls.db", users=users, extra_args=["--tls", str(cert), str(key)]
    ) as ews:
        assert ews.ews_url.startswith("https://")
        from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter

        previous = BaseProtocol.HTTP_ADAPTER_CLS
        BaseProtocol.HTTP_ADAPTER_CLS = NoVerifyHTTPAdapter
        try:
            account = make_account(ews.ews_url, "tess@example.com")
            assert account.inbox.all().count() == 0
        finally:
            BaseProtocol.HTTP_ADAPTER_CLS = previous


def test_a_client_resetting_its_connection_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Clients drop connections (timeouts, killed workers): the emulator says so in one
    line on stderr instead of a traceback per connection."""
    command = [sys.executable, "-m", "ews_emulator", "--port", "0", "--db", str(tmp_path / "e.db")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT)
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None and process.stderr is not None
        stderr_pipe = process.stderr
        reader = threading.Thread(target=lambda: lines.extend(stderr_pipe), daemon=True)
        reader.start()
        url = urllib.parse.urlsplit(process.stdout.readline().strip())
        for _ in range(3):
            with socket.create_connection((url.hostname, url.port)) as conn:
                conn.sendall(b"POST /EWS/Exchange.asmx HTTP/1.1\r\nContent-Length: 900\r\n\r\n<so")
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        eventually(lambda: len(lines) >= 3, "three lines on stderr")
    finally:
        process.terminate()
        process.wait(timeout=10)
    stderr = "".join(lines)
    assert "Traceback" not in stderr
    assert stderr.count("went away") == 3, stderr
