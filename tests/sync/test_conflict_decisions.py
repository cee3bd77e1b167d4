"""A conflict decision applies exactly what it says, from the self-service page and the
admin alike: after the next sync both sides hold the chosen version.

The appointment is edited in Exchange and read back there with exchangelib, against the EWS
emulator; the pages are driven with Django's test client, the sync called directly.
"""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from exchangelib import Account

from activities.models import Appointment
from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.ews import account_for
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox
from tests.factories import make_appointment, make_superuser
from tests.sync.helpers import emulated_mailbox, options, sync

pytestmark = pytest.mark.django_db

CRM_EDIT = {"subject": "Kick-off (CRM edit)", "location": "Room 1"}
OUTLOOK_EDIT = {"subject": "Kick-off (Outlook edit)", "location": "Outlook room"}
KEPT = {"keep_crm": CRM_EDIT, "keep_exchange": OUTLOOK_EDIT}


def exchange_version(account: Account, item_id: str) -> dict[str, Any]:
    item = account.calendar.get(id=item_id)
    return {"subject": item.subject, "location": item.location}


def conflicting_appointment(ews: EmulatorProcess) -> tuple[Mailbox, Appointment, str]:
    """An appointment both sides changed since the last sync, under "Ask the user"."""
    mailbox = emulated_mailbox(ews)
    options(mailbox, ItemType.APPOINTMENT, conflict_strategy="manual")
    appointment = make_appointment(owner_user=mailbox.user, subject="Kick-off", location="Room 1")
    sync(mailbox)
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox, object_type=ItemType.APPOINTMENT)
    # the user edits it in Outlook, and someone edits it in the CRM
    item = account_for(mailbox).calendar.get(id=mapping.exchange_item_id)
    item.subject, item.location = OUTLOOK_EDIT["subject"], OUTLOOK_EDIT["location"]
    item.save(update_fields=["subject", "location"])
    appointment.subject = CRM_EDIT["subject"]
    appointment.save()
    sync(mailbox)
    mapping.refresh_from_db()
    assert mapping.user_decision == ExchangeSyncIdMapping.UserDecision.PENDING
    return mailbox, appointment, mapping.exchange_item_id


def decide_on_the_self_service_page(mailbox: Mailbox, decision: str) -> None:
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox, user_decision="pending")
    assert mailbox.user is not None
    client = Client()
    client.force_login(mailbox.user)
    response = client.post(
        f"/mailboxes/{mailbox.pk}/conflicts/{mapping.pk}/", {"decision": decision}
    )
    assert response.status_code == 302


def decide_in_the_admin(mailbox: Mailbox, decision: str) -> None:
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox, user_decision="pending")
    client = Client()
    client.force_login(make_superuser(username="conflict-admin"))
    response = client.post(
        reverse("admin:mailboxes_pendingconflict_decide", args=[mapping.pk]),
        {"decision": decision},
    )
    assert response.status_code == 302


@pytest.mark.parametrize("decide", [decide_on_the_self_service_page, decide_in_the_admin])
@pytest.mark.parametrize("decision", ["keep_crm", "keep_exchange"])
def test_after_the_next_sync_both_sides_hold_the_chosen_version(
    ews: EmulatorProcess, decide: Any, decision: str
) -> None:
    # given an appointment in conflict: both versions are kept, neither side changed
    mailbox, appointment, item_id = conflicting_appointment(ews)
    account = account_for(mailbox)
    assert exchange_version(account, item_id) == OUTLOOK_EDIT
    appointment.refresh_from_db()
    assert appointment.subject == CRM_EDIT["subject"]

    # when the decision is taken, and the next sync runs
    decide(mailbox, decision)
    sync(mailbox)

    # then the CRM and Exchange both hold the chosen version, whole
    appointment.refresh_from_db()
    assert {"subject": appointment.subject, "location": appointment.location} == KEPT[decision]
    assert exchange_version(account, item_id) == KEPT[decision]
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox)
    assert mapping.user_decision == decision
    # and a further sync changes nothing on either side
    sync(mailbox)
    appointment.refresh_from_db()
    assert appointment.subject == KEPT[decision]["subject"]
    assert exchange_version(account, item_id) == KEPT[decision]
