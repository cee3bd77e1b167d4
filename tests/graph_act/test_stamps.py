"""The CRM record ids written on Graph items after the pull, a budget a cycle
(`mailboxes/sync/stamps.py`): a first sync links every record at once, the marks follow
over the next cycles, a failed mark is written again, and an item moved before its mark
keeps its record."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from activities.models import Appointment, Contact, Task
from ews_emulator.graph import ids
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox
from tests.conftest import M365
from tests.graph_act.helpers import graph_mailbox
from tests.graph_act.test_sync import _stamp, _task_extension
from tests.sync.helpers import options, sync

pytestmark = pytest.mark.django_db


def immutable(ews_id: str) -> str:
    """The immutable Graph id of an item the emulator created with this EWS id."""
    raw = base64.b64decode(ews_id)
    return ids.rest_id(base64.b64encode(ids.IMMUTABLE_MARK + raw).decode())


def marks(m365: M365, mailbox: Mailbox, *others: str) -> dict[str, str]:
    """{EWS id: the record id it carries} of the marked items of the mailbox's default
    folders and these."""
    found = {}
    for folder in ("calendar", "contacts", "tasks", *others):
        for item in m365.tenant.control.items(mailbox.email_address, folder):
            if folder == "tasks":  # crmsync's open extension on a todoTask
                value = (_task_extension(m365, item["id"]) or {}).get("recordId")
            else:
                value = _stamp(m365, item["id"])
            if value is not None:
                found[item["id"]] = str(value)
    return found


def pending(mailbox: Mailbox) -> Any:
    return ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, stamp_pending=True)


def requests_of(m365: M365, mailbox: Mailbox) -> int:
    return int(m365.tenant.control.graph_counters()["requests"].get(mailbox.email_address, 0))


def test_a_first_sync_links_every_record_and_marks_k_items_a_cycle(
    m365: M365, settings: Any
) -> None:
    settings.CRMSYNC_GRAPH_STAMPS_PER_CYCLE = 5
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    control.seed(address, "calendar", 4)
    control.seed(address, "contacts", 5)
    control.seed(address, "tasks", 3)
    sync(mailbox)
    owned = {"owner_user": mailbox.user}
    assert Appointment.objects.filter(**owned).count() == 4
    assert Contact.objects.filter(**owned).count() == 5
    assert Task.objects.filter(**owned).count() == 3
    mappings = ExchangeSyncIdMapping.objects.filter(mailbox=mailbox)
    assert mappings.count() == 12
    for left in (7, 2, 0):
        # K marks a cycle, the oldest mappings first, each naming its own record
        assert pending(mailbox).count() == left
        written = mappings.filter(stamp_pending=False).order_by("pk")
        assert list(written) == list(mappings.order_by("pk")[: 12 - left])
        assert sorted(marks(m365, mailbox).values()) == sorted(
            str(m.crm_object_id) for m in written
        )
        if left:
            # the marks are the cycle's work (not an idle one); the items marked by the
            # cycle before come back and change nothing
            assert sync(mailbox).items_processed == min(5, left)
    assert mappings.count() == 12
    assert Contact.objects.filter(**owned).count() == 5
    # the last marked items come back once and change nothing; then the cycle is idle
    assert sync(mailbox).items_processed == 0
    control.graph_counters(reset=True)
    sync(mailbox)
    assert requests_of(m365, mailbox) == 3  # calendar, contacts, tasks


def test_a_mark_that_failed_is_written_next_cycle(m365: M365) -> None:
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    first, second = control.seed(address, "contacts", 2)
    # the mark of the first contact fails in the $batch (the only request naming its id)
    control.inject_graph_fault("graph_503", path=immutable(first), mailbox=address)
    result = sync(mailbox, allow_error=True)
    assert result.error is not None
    assert Contact.objects.filter(owner_user=mailbox.user).count() == 2
    # the other mark of the batch is kept; the failed one waits for the next cycle
    assert pending(mailbox).count() == 1
    assert list(marks(m365, mailbox)) == [second]
    sync(mailbox)
    assert pending(mailbox).count() == 0
    assert sorted(marks(m365, mailbox)) == sorted([first, second])


def test_an_item_moved_before_its_mark_keeps_its_record(m365: M365, settings: Any) -> None:
    settings.CRMSYNC_GRAPH_STAMPS_PER_CYCLE = 1
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    seeded = control.seed(address, "contacts", 3)
    by_graph_id = {immutable(i): i for i in seeded}
    client = GraphMailboxConnector.for_mailbox(mailbox).client
    folder = client.post("contactFolders", {"displayName": "Partners"})
    assert folder is not None
    sync(mailbox)
    options(mailbox, ItemType.CONTACT, delete_exchange_to_crm=True)
    moved = pending(mailbox).order_by("-pk").first()
    assert moved is not None and pending(mailbox).count() == 2
    gone = pending(mailbox).order_by("pk").first()
    assert gone is not None and gone.pk != moved.pk
    control.move_item(by_graph_id[moved.exchange_item_id], ids.ews_id(str(folder["id"])))
    control.delete_item(by_graph_id[gone.exchange_item_id], mode="hard")
    sync(mailbox)
    mapping = ExchangeSyncIdMapping.objects.get(pk=moved.pk)
    assert mapping.exchange_item_id == moved.exchange_item_id  # an immutable id
    assert mapping.exchange_folder_id == str(folder["id"])  # it followed the item
    assert mapping.crm_object_id == moved.crm_object_id
    assert not mapping.stamp_pending
    partners = marks(m365, mailbox, ids.ews_id(str(folder["id"])))
    assert str(moved.crm_object_id) in partners.values()
    # the deleted one is deleted in the CRM (its mark answered 404); the third one kept
    records = set(Contact.objects.filter(owner_user=mailbox.user).values_list("pk", flat=True))
    assert gone.crm_object_id not in records and moved.crm_object_id in records
    assert len(records) == 2
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 2
    assert pending(mailbox).count() == 0


def test_no_mark_names_a_record_deleted_in_the_crm(m365: M365, settings: Any) -> None:
    settings.CRMSYNC_GRAPH_STAMPS_PER_CYCLE = 1
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    control.seed(address, "calendar", 2)
    sync(mailbox)
    waiting = pending(mailbox).get()
    Appointment.objects.filter(pk=waiting.crm_object_id).delete()
    # the push of the next cycle unlinks it (deletes in Exchange are off); the pass that
    # follows finds no record to name: nothing is written, nothing left pending
    options(mailbox, ItemType.APPOINTMENT, delete_crm_to_exchange=False)
    sync(mailbox)
    assert pending(mailbox).count() == 0
    assert str(waiting.crm_object_id) not in marks(m365, mailbox).values()
