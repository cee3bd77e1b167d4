"""EWSMaxConcurrency ("EWS throttling in Exchange"): an administrator may set a user's limit
of requests in progress below Exchange's default of 27, and the server then refuses the
request beyond it at once with ErrorServerBusy (`Policy` MaxConcurrency, no back-off). The
engine's initial sync of several pages overlaps requests (the next page is fetched, and the
last page's items marked, while a page is written): within a limit of two they fit; at a
limit of one the server refuses, and the mailbox's requests then go one at a time, within
the same cycle, with no failure recorded."""

import threading
import time
from pathlib import Path

import pytest
import requests

from activities.models import Appointment, Contact, Task
from ews_emulator.testing import EmulatorProcess, run_emulator
from mailboxes.models import Alert, ExchangeSyncIdMapping, Mailbox
from tests.sync.helpers import emulated_mailbox, sync

pytestmark = pytest.mark.django_db


def test_an_initial_sync_of_several_pages_completes_within_a_limit_of_two(
    tmp_path: Path,
) -> None:
    with run_emulator(tmp_path / "ews.db", users=[], extra_args=["--max-concurrency", "2"]) as ews:
        mailbox = emulated_mailbox(ews)
        ews.control.seed(mailbox.email_address, "calendar", 1300)

        sync(mailbox)

        assert Appointment.objects.filter(owner_user=mailbox.user).count() == 1300
        assert sync(mailbox).items_processed == 0


def test_at_a_limit_of_one_the_mailbox_goes_one_request_at_a_time_and_completes(
    tmp_path: Path,
) -> None:
    with run_emulator(tmp_path / "ews.db", users=[], extra_args=["--max-concurrency", "1"]) as ews:
        # given a mailbox allowed one request at a time, with a few pages of each type
        mailbox = emulated_mailbox(ews)
        ews.control.seed(mailbox.email_address, "calendar", 1100)
        ews.control.seed(mailbox.email_address, "contacts", 600)
        ews.control.seed(mailbox.email_address, "tasks", 600)

        # when its initial sync runs (overlapping requests at first)
        result = sync(mailbox)

        # then the one cycle brought every record and recorded no failure
        assert result.error is None
        assert Appointment.objects.filter(owner_user=mailbox.user).count() == 1100
        assert Contact.objects.filter(owner_user=mailbox.user).count() == 600
        assert Task.objects.filter(owner_user=mailbox.user).count() == 600
        assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 2300
        assert mailbox.act_status == Mailbox.ChannelStatus.SUCCESS
        assert mailbox.transient_failure_count == 0
        assert mailbox.act_postpone_until is None
        assert not Alert.objects.filter(mailbox=mailbox).exists()
        # every item was marked with its record id: each mapping holds the marked version
        held = dict(
            ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).values_list(
                "exchange_item_id", "change_key"
            )
        )
        for kind in ("calendar", "contacts", "tasks"):
            for item in ews.control.items(mailbox.email_address, kind):
                assert held[item["id"]] == item["change_key"]
        assert sync(mailbox).items_processed == 0


def test_a_refusal_while_another_client_holds_the_only_slot_postpones_the_mailbox(
    tmp_path: Path,
) -> None:
    with run_emulator(tmp_path / "ews.db", users=[], extra_args=["--max-concurrency", "1"]) as ews:
        # given a mailbox allowed one request at a time, whose slot another client holds
        mailbox = emulated_mailbox(ews)
        ews.control.seed(mailbox.email_address, "calendar", 3)
        ews.control.inject_fault(
            "delay", operation="GetFolder", mailbox=mailbox.email_address, delay_ms=3000
        )
        other = threading.Thread(target=_get_inbox, args=(ews, mailbox.email_address))
        other.start()
        time.sleep(0.5)
        try:
            # when the mailbox syncs meanwhile, its request is refused, sent again alone
            # and refused again: the cycle stops as for any busy server, without a loop
            result = sync(mailbox, allow_error=True)
        finally:
            other.join()

        assert result.error is not None and result.error.code == "ErrorServerBusy"
        mailbox.refresh_from_db()
        assert mailbox.transient_failure_count == 1
        assert mailbox.act_postpone_until is not None

        # then the next cycle, the slot free, completes
        sync(mailbox)
        assert Appointment.objects.filter(owner_user=mailbox.user).count() == 3


def _get_inbox(ews: EmulatorProcess, user: str) -> None:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"'
        ' xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        '<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
        "<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
        '</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
        "</m:FolderIds></m:GetFolder></s:Body></s:Envelope>"
    )
    answer = requests.post(
        ews.ews_url,
        data=envelope.encode(),
        auth=(user, "secret"),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    assert answer.status_code == 200
