"""A conflict decided while a sync is writing a page that holds the same item is not undone
by that page: the decision waits for the page's commit and then applies to what it wrote.

The interleaving is made deterministic by pausing the sync between loading the page's
mappings and deciding about them; the decision runs meanwhile in another thread with its own
database connection, as a web request would.
"""

import threading
from typing import Any

import pytest
from django.db import connection, connections

from activities.models import Appointment
from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.ews import account_for
from mailboxes.models import ExchangeSyncIdMapping
from mailboxes.sync import page
from mailboxes.sync.conflicts import decide_conflicts
from tests.sync.helpers import sync
from tests.sync.test_conflict_decisions import CRM_EDIT, conflicting_appointment, exchange_version

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECOND_OUTLOOK_EDIT = {"subject": "Kick-off (second Outlook edit)", "location": "Hall B"}


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite serialises the whole database instead")


@pytest.mark.parametrize("decision", ["keep_crm", "keep_exchange"])
def test_a_decision_taken_during_a_page_write_is_kept(
    ews: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, decision: str
) -> None:
    # given an appointment in conflict, which the user edits once more in Outlook
    mailbox, appointment, item_id = conflicting_appointment(ews)
    account = account_for(mailbox)
    item = account.calendar.get(id=item_id)
    item.subject, item.location = SECOND_OUTLOOK_EDIT["subject"], SECOND_OUTLOOK_EDIT["location"]
    item.save(update_fields=["subject", "location"])
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox)

    # when the user decides while the next sync has loaded that item's page and not written it
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def the_user_decides() -> None:
        try:
            outcome["settled"] = decide_conflicts([mapping], decision)
        finally:
            connections.close_all()
            finished.set()

    real_decide = page.decide

    def decide_after_the_user(ts: Any, loaded: page.Loaded[Any], folder_id: str) -> Any:
        if item_id in loaded.mappings and "started" not in outcome:
            outcome["started"] = True
            threading.Thread(target=the_user_decides).start()
            finished.wait(timeout=3)  # with the page's mapping locked, the decision waits
        return real_decide(ts, loaded, folder_id)

    monkeypatch.setattr(page, "decide", decide_after_the_user)
    sync(mailbox)
    monkeypatch.setattr(page, "decide", real_decide)
    assert outcome.get("started"), "no page held the item"
    assert finished.wait(timeout=30)
    assert outcome["settled"] == (1, [])

    # then the decision stands, applied to the newest versions, and reaches the other side
    mapping.refresh_from_db()
    assert mapping.user_decision == decision
    sync(mailbox)
    expected = CRM_EDIT if decision == "keep_crm" else SECOND_OUTLOOK_EDIT
    appointment = Appointment.objects.get(pk=appointment.pk)
    assert {"subject": appointment.subject, "location": appointment.location} == expected
    assert exchange_version(account, item_id) == expected
    assert ExchangeSyncIdMapping.objects.get(mailbox=mailbox).user_decision == decision
