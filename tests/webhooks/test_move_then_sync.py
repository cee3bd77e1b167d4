"""After `move_mailbox_to_graph`, the next Graph sync of a mailbox that synced everything over
EWS (email in, a tracking folder chosen from the EWS folder listing, email out,
appointments, contacts, tasks) duplicates nothing, sends nothing again and keeps every link,
with the application permissions a Microsoft 365 profile has (Graph gives no application
`translateExchangeIds`: the links are re-linked by the CRM id the EWS side stamped)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.utils import timezone

from activities.models import Account, Appointment, Contact, Email, Task
from crmsync.choices import DeliveryMethod, OutgoingDeliveryMethod
from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.settings import graph_settings
from mailboxes.folder_listing import refresh_folder_listing
from mailboxes.models import (
    ExchangeFolderListing,
    ExchangeSyncIdMapping,
    ItemType,
    Mailbox,
    MailboxTrackingFolder,
    ProcessedMessage,
)
from mailboxes.webhooks.subscriptions import client_for
from tests import factories
from tests.mail.messages import build
from tests.sync.helpers import act_mailbox, exchange_profile, sync

pytestmark = pytest.mark.e2e

PATH_OF_TYPE: dict[str, str] = {
    ItemType.APPOINTMENT: "events",
    ItemType.CONTACT: "contacts",
}


def _store_counts(control: Any, address: str) -> dict[str, int]:
    names = {"inbox", "sentitems", "drafts", "calendar", "contacts", "tasks", "Deals"}
    return {
        folder["name"]: len(control.items(address, folder["id"]))
        for folder in control.folders(address)
        if folder["name"] in names or folder.get("distinguished") in names
    }


def _crm_counts(owner: Any) -> dict[str, int]:
    return {
        "appointments": Appointment.objects.filter(owner_user=owner).count(),
        "contacts": Contact.objects.filter(owner_user=owner).count(),
        "tasks": Task.objects.filter(owner_user=owner).count(),
        "emails": Email.objects.filter(owner_user=owner).count(),
    }


@pytest.fixture
def synced_over_ews(m365: Any, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", m365.tenant.ca_file)
    control = m365.tenant.control
    address = m365.tenant.new_mailbox_address()
    mailbox = act_mailbox(
        exchange_profile(m365.tenant.ews_url),
        email=address,
        incoming_delivery_method=DeliveryMethod.SERVER_SIDE_SYNC,
        outgoing_delivery_method=OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
        tracking_option=Mailbox.TrackingOption.ALL,
    )
    owner = mailbox.user
    # A folder under the Inbox, made in Outlook, chosen from the EWS folder listing.
    outlook = GraphClient(graph_settings(m365.profile(), mailbox))  # no second CRM mailbox
    outlook.post("mailFolders/inbox/childFolders", {"displayName": "Deals"})
    assert refresh_folder_listing(mailbox.pk) == "listed"
    [listed] = ExchangeFolderListing.objects.get(mailbox=mailbox).folders
    deals = Account.objects.create(owner_user=owner, name="Deals", email_address="d@acme.test")
    MailboxTrackingFolder.objects.create(
        mailbox=mailbox,
        exchange_folder_id=listed["id"],
        exchange_folder_name=listed["name"],
        regarding_content_type=ContentType.objects.get_for_model(Account),
        regarding_object_id=deals.pk,
    )
    control.seed(address, "calendar", 2)
    control.seed(address, "contacts", 2)
    control.seed(address, "tasks", 2)
    start = timezone.now() + timedelta(days=2)
    factories.make_appointment(
        owner_user=owner, subject="From the CRM", start=start, end=start + timedelta(hours=1)
    )
    factories.make_contact(owner_user=owner, first_name="Crm", last_name="Contact")
    factories.make_task(owner_user=owner, subject="Call back")
    for n in range(2):
        control.deliver(address, build(to=address, subject=f"in{n}"))
    control.deliver(address, build(to=address, subject="tracked"), folder=listed["id"])
    outgoing = factories.make_outgoing_email(
        mailbox, to="buyer@partner.test", subject="Our offer", body_text="The offer."
    )

    sync(mailbox)
    sync(mailbox)  # reads back the items the first cycle stamped

    outgoing.refresh_from_db()
    assert outgoing.status == Email.Status.SENT
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 9
    assert Email.objects.get(subject="tracked").regarding_object_id == deals.pk
    return mailbox


def test_the_first_graph_sync_after_the_move_keeps_every_link(
    synced_over_ews: Mailbox, m365: Any
) -> None:
    mailbox = synced_over_ews
    control, address, owner = m365.tenant.control, mailbox.email_address, mailbox.user
    links = set(
        ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).values_list(
            "pk", "object_type", "crm_object_id"
        )
    )
    crm_before, store_before = _crm_counts(owner), _store_counts(control, address)
    filed_before = set(ProcessedMessage.objects.filter(mailbox=mailbox).values_list("email_id"))

    out = StringIO()
    call_command("move_mailbox_to_graph", address, m365.profile().name, stdout=out)
    sync(mailbox)
    second = sync(mailbox)

    assert "9 of 9 links" in out.getvalue()
    assert _crm_counts(owner) == crm_before  # nothing duplicated in the CRM
    assert _store_counts(control, address) == store_before  # nor in Exchange, nothing re-sent
    mappings = ExchangeSyncIdMapping.objects.filter(mailbox=mailbox)
    assert set(mappings.values_list("pk", "object_type", "crm_object_id")) == links
    client = client_for(mailbox)
    for mapping in mappings:
        path = PATH_OF_TYPE.get(mapping.object_type)
        if path is None:
            list_id = client.get("todo/lists")["value"][0]["id"]
            path = f"todo/lists/{list_id}/tasks"
        item = client.get(f"{path}/{mapping.exchange_item_id}")
        assert item["id"] == mapping.exchange_item_id  # Graph's own immutable id
    assert (
        set(ProcessedMessage.objects.filter(mailbox=mailbox).values_list("email_id"))
        == filed_before
    )  # every message found its email again
    assert second.items_processed == 0  # nothing left to re-link or re-read
    # The tracking folder listed over EWS is still tracked over Graph.
    tracking = MailboxTrackingFolder.objects.get(mailbox=mailbox)
    control.deliver(
        address, build(to=address, subject="tracked later"), folder=_ews_folder(control, address)
    )
    sync(mailbox)
    later = Email.objects.get(subject="tracked later")
    assert later.regarding_object_id == tracking.regarding_object_id


def _ews_folder(control: Any, address: str) -> str:
    return next(f["id"] for f in control.folders(address) if f["name"] == "Deals")
