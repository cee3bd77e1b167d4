"""A record id the pull could not write on its item (the request failed, or the worker died
before sending it) is written by a later cycle: EWS gives a moved item a new id, and an
unmarked item that moves is no longer found by its record id."""

import pytest

from activities.models import Appointment
from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.ews import account_for
from mailboxes.connectors.ews.stamp import FIELD
from mailboxes.models import ExchangeSyncIdMapping
from tests.sync.helpers import emulated_mailbox, sync

pytestmark = pytest.mark.django_db


def test_a_mark_the_server_refused_is_written_by_the_next_cycle(ews: EmulatorProcess) -> None:
    # given three appointments made in Outlook, and a server refusing every UpdateItem
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "calendar", 3)
    ews.control.inject_fault(
        "server_busy", operation="UpdateItem", mailbox=mailbox.email_address, count=10
    )

    # when a cycle pulls them: the records are committed, their marks refused
    result = sync(mailbox, allow_error=True)
    assert result.error is not None and result.error.code == "ErrorServerBusy"
    assert Appointment.objects.filter(owner_user=mailbox.user).count() == 3
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, stamp_pending=True).count() == 3

    # then the next cycle, the server willing, marks every item with its record's id
    ews.control.clear_faults()
    sync(mailbox)
    mappings = list(ExchangeSyncIdMapping.objects.filter(mailbox=mailbox))
    assert len(mappings) == 3
    assert not any(m.stamp_pending for m in mappings)
    account = account_for(mailbox)
    items = account.fetch(ids=[(m.exchange_item_id, None) for m in mappings], only_fields=[FIELD])
    assert [getattr(item, FIELD) for item in items] == [str(m.crm_object_id) for m in mappings]
    # and nothing changes in the CRM when the marked versions come back
    assert sync(mailbox).items_processed == 0
    assert Appointment.objects.filter(owner_user=mailbox.user).count() == 3
