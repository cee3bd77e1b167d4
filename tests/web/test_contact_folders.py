"""A contact import's selected folders picked from the mailbox's contact folders, as a worker
listed them with its mail folders (the folder-listing task), on the self-service page and
the admin's form alike; typed as ids until they are listed (issue 14)."""

import re
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.folder_listing import refresh_folder_listing
from mailboxes.models import ExchangeFolderListing, ItemType, ItemTypeSyncOptions, Mailbox
from tests.foundation.html_forms import form_data
from tests.web.conftest import Team, logged_in, url

CONTACT_FOLDERS = [
    {"id": "contacts", "name": "Contacts", "path": "Contacts"},
    {"id": "AAMkSuppliers", "name": "Suppliers", "path": "Contacts / Suppliers"},
    {"id": "AAMkSuppliersEU", "name": "EU", "path": "Contacts / Suppliers / EU"},
]


def contact_options(mailbox: Mailbox) -> ItemTypeSyncOptions:
    return mailbox.sync_options.get(item_type=ItemType.CONTACT)


def listed(mailbox: Mailbox) -> None:
    ExchangeFolderListing.objects.create(
        mailbox=mailbox, contact_folders=CONTACT_FOLDERS, listed_at=timezone.now()
    )


# --- The listing (over EWS: test_folder_listing.py) ----------------------------------------


def test_the_task_lists_the_contact_folders_over_graph(m365: Any) -> None:
    mailbox = m365.mailbox()
    client = GraphMailboxConnector.for_mailbox(mailbox).client
    suppliers = client.post("contactFolders", {"displayName": "Suppliers"})
    assert suppliers is not None
    # (one level: the emulator does not make contact folders below contact folders yet)

    assert refresh_folder_listing(mailbox.pk) == "listed"

    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert listing.contact_folders == [
        {"id": "contacts", "name": "Contacts", "path": "Contacts"},
        {"id": suppliers["id"], "name": "Suppliers", "path": "Contacts / Suppliers"},
    ]


# --- The self-service page ------------------------------------------------------------------


def test_without_a_list_contact_folder_ids_are_typed(team: Team) -> None:
    page = logged_in(team.alice).get(url(team.alice_mailbox)).content.decode()

    assert re.search(r'<input type="text" name="options-\d-contact_import_folders"', page)
    assert "they are picked from the list" in page


def test_listed_contact_folders_are_picked_and_saved_by_id(team: Team) -> None:
    mailbox = team.alice_mailbox
    listed(mailbox)
    client = logged_in(team.alice)
    page = client.get(url(mailbox)).content.decode()
    assert 'type="checkbox"' in page and "Contacts / Suppliers / EU" in page
    data = form_data(page, "settings")
    found = re.search(r'name="(options-\d)-contact_import_folders"', page)
    assert found is not None
    prefix = found.group(1)
    name = f"{prefix}-contact_import_folders"
    data[name] = ["AAMkSuppliers", "AAMkSuppliersEU"]
    data[f"{prefix}-contact_import_scope"] = ["selected_folders"]
    data[f"{prefix}-confirm_change"] = ["on"]

    response = client.post(url(mailbox), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    options = contact_options(mailbox)
    assert options.contact_import_folders == ["AAMkSuppliers", "AAMkSuppliersEU"]
    assert options.contact_import_scope == "selected_folders"


def test_a_folder_not_listed_is_refused_and_one_chosen_before_stays(team: Team) -> None:
    mailbox = team.alice_mailbox
    ItemTypeSyncOptions.objects.filter(mailbox=mailbox, item_type=ItemType.CONTACT).update(
        contact_import_folders=["AAMkGoneSince"]
    )
    listed(mailbox)
    client = logged_in(team.alice)
    page = client.get(url(mailbox)).content.decode()
    assert "AAMkGoneSince (not in the last list)" in page
    data = form_data(page, "settings")
    name = next(key for key in data if key.endswith("contact_import_folders"))
    assert data[name] == ["AAMkGoneSince"]  # still ticked: saving keeps it

    data[name] = ["AAMkForged"]
    refused = client.post(url(mailbox), data)

    assert refused.status_code == 400
    assert contact_options(mailbox).contact_import_folders == ["AAMkGoneSince"]


# --- The admin's form -----------------------------------------------------------------------


def test_the_admin_form_picks_listed_contact_folders_too(staff_client: Client, team: Team) -> None:
    mailbox = team.alice_mailbox
    listed(mailbox)
    change = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    page = staff_client.get(change).content.decode()
    data = form_data(page, "mailbox_form")
    row = next(i for i in range(3) if data[f"sync_options-{i}-item_type"] == [ItemType.CONTACT])
    name = f"sync_options-{row}-contact_import_folders"
    assert re.search(rf'<input type="checkbox" name="{name}" value="AAMkSuppliersEU"', page)
    assert "Contacts / Suppliers / EU" in page
    data[name] = ["contacts", "AAMkSuppliersEU"]
    data[f"sync_options-{row}-contact_import_scope"] = ["selected_folders"]
    data[f"sync_options-{row}-confirm_change"] = ["on"]

    response = staff_client.post(change, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert contact_options(mailbox).contact_import_folders == ["contacts", "AAMkSuppliersEU"]
