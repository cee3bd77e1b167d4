"""A contact import's selected folders picked from the mailbox's contact folders, as a worker
listed them with its mail folders (the folder-listing task), on the self-service page and
the admin's form alike; typed as ids until they are listed. The admin's form picks its
tracking folders from the listed ones too, and asks a worker for the list (issue 14)."""

import re
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.folder_listing import refresh_folder_listing
from mailboxes.models import ExchangeFolderListing, ItemType, ItemTypeSyncOptions, Mailbox
from tests.foundation.html_forms import form_data
from tests.graph_act.test_sync import nested_contact_folders
from tests.web.conftest import RecordedTask, Team, approved, logged_in, url

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
    # two levels below the first (Create child folder: POST contactFolders/{id}/childFolders)
    suppliers, europe, germany = nested_contact_folders(client)

    assert refresh_folder_listing(mailbox.pk) == "listed"

    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert listing.contact_folders == [
        {"id": "contacts", "name": "Contacts", "path": "Contacts"},
        {"id": suppliers["id"], "name": "Partners", "path": "Contacts / Partners"},
        {"id": europe["id"], "name": "EU", "path": "Contacts / Partners / EU"},
        {"id": germany["id"], "name": "DE", "path": "Contacts / Partners / EU / DE"},
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
    assert "under the Inbox and 3 contact folders (for the contact options), listed" in page
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


# --- The admin's tracking folders and its Refresh folder list -------------------------------

MAIL_FOLDERS = [
    {"id": "AAMkProjects", "name": "Projects", "path": "Projects"},
    {"id": "AAMkAcme", "name": "Acme", "path": "Projects / Acme"},
]


def test_the_admin_form_picks_a_tracking_folder_from_the_listed_ones(
    staff_client: Client, team: Team
) -> None:
    mailbox = team.alice_mailbox
    ExchangeFolderListing.objects.create(
        mailbox=mailbox, folders=MAIL_FOLDERS, listed_at=timezone.now()
    )
    change = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    page = staff_client.get(change).content.decode()
    assert re.search(r"<select name=\"tracking_folders-__prefix__-exchange_folder_id\"", page)
    assert '<option value="AAMkAcme">Projects / Acme</option>' in page
    data = form_data(page, "mailbox_form")
    data["tracking_folders-TOTAL_FORMS"] = ["1"]
    data["tracking_folders-0-exchange_folder_id"] = ["AAMkAcme"]
    data["tracking_folders-0-exchange_folder_name"] = [""]

    response = staff_client.post(change, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    folder = mailbox.tracking_folders.get()
    assert (folder.exchange_folder_id, folder.exchange_folder_name) == (
        "AAMkAcme",
        "Projects / Acme",
    )
    # a folder not listed is refused
    data["tracking_folders-0-exchange_folder_id"] = ["AAMkForged"]
    data["tracking_folders-INITIAL_FORMS"] = ["0"]
    refused = staff_client.post(change, data)
    assert refused.status_code == 200
    assert mailbox.tracking_folders.count() == 1


def test_the_admin_form_refreshes_the_folder_list_on_a_worker(
    staff_client: Client, team: Team, recorded_tasks: Any
) -> None:
    recorded_tasks.list_exchange_folders = RecordedTask()
    mailbox = approved(team.alice_mailbox)
    refresh = reverse("admin:mailboxes_mailbox_refresh_folders", args=[mailbox.pk])
    change = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    assert f'action="{refresh}"' in staff_client.get(change).content.decode()

    response = staff_client.post(refresh, follow=True)

    assert recorded_tasks.list_exchange_folders.calls == [(mailbox.pk,)]
    [said] = [str(m) for m in response.context["messages"]]
    assert said.startswith("The mailbox's folders are being listed on a worker: reload")
    assert ExchangeFolderListing.objects.get(mailbox=mailbox).is_waiting
    assert staff_client.get(refresh).status_code == 403
