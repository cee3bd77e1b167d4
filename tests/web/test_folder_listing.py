"""Tracking folders picked from the mailbox's real Exchange folders, listed by a task.

The task function is called directly against the EWS emulator; the pages are driven with
Django's test client, the task module being the one seam (nothing is enqueued).
"""

import uuid
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from django.utils import timezone
from exchangelib.folders import Folder

from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors.ews import account_for, forget_connections
from mailboxes.folder_listing import refresh_folder_listing
from mailboxes.models import ExchangeFolderListing, Mailbox, MailboxTrackingFolder
from mailboxes.tasks import list_exchange_folders
from profiles.models import EmailServerProfile
from tests.factories import make_account, make_person
from tests.web.conftest import RecordedTask, Team, approved, logged_in

PASSWORD = "folder-Secret-1"  # the emulator's test password


@pytest.fixture
def mailbox(ews: EmulatorProcess, db: None) -> Mailbox:
    """A user's mailbox on a profile pointing at the emulator, where it exists."""
    address = f"fay-{uuid.uuid4().hex[:8]}@example.com"
    ews.control.create_mailbox(address, PASSWORD)
    profile = EmailServerProfile.objects.create(
        name=f"Emulated {address}",
        incoming_server_location=ews.ews_url,
        incoming_use_ssl=False,
        incoming_authentication_protocol="basic",
    )
    user = make_person(address.split("@")[0], email=address)
    Mailbox.objects.filter(user=user).update(
        profile=profile,
        username=address,
        approval_status=Mailbox.ApprovalStatus.APPROVED,
        approved_email_address=address,
    )
    box = Mailbox.objects.get(user=user)
    box.password = PASSWORD
    box.save()
    return box


def make_folders(mailbox: Mailbox) -> dict[str, str]:
    """Projects, Projects/Acme, Archive under the Inbox; a calendar under it; a folder
    elsewhere. Their ids by path."""
    account = account_for(mailbox)
    inbox = account.inbox
    projects = Folder(parent=inbox, name="Projects")
    projects.save()
    acme = Folder(parent=projects, name="Acme")
    acme.save()
    archive = Folder(parent=inbox, name="archive")
    archive.save()
    Folder(parent=inbox, name="Team calendar", folder_class="IPF.Appointment").save()
    Folder(parent=account.msg_folder_root, name="Outside the inbox").save()
    return {"Projects": projects.id, "Projects / Acme": acme.id, "archive": archive.id}


# --- The task -------------------------------------------------------------------------------


def test_the_task_stores_the_mail_folders_under_the_inbox_with_their_paths(
    mailbox: Mailbox,
) -> None:
    ids = make_folders(mailbox)

    outcome = list_exchange_folders(mailbox.pk)

    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert outcome == "listed"
    assert listing.folders == [
        {"id": ids["archive"], "name": "archive", "path": "archive"},
        {"id": ids["Projects"], "name": "Projects", "path": "Projects"},
        {"id": ids["Projects / Acme"], "name": "Acme", "path": "Projects / Acme"},
    ]
    assert listing.listed_at is not None
    assert listing.error_text == ""


def test_the_task_lists_contacts_and_the_user_s_contact_folders_below_it_over_ews(
    mailbox: Mailbox,
) -> None:
    account = account_for(mailbox)
    suppliers = Folder(parent=account.contacts, name="Suppliers", folder_class="IPF.Contact")
    suppliers.save()
    eu = Folder(parent=suppliers, name="EU", folder_class="IPF.Contact")
    eu.save()

    assert refresh_folder_listing(mailbox.pk) == "listed"

    # Exchange's own folders below Contacts (Recipient Cache, GAL Contacts...) are not listed
    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert listing.contact_folders == [
        {"id": "contacts", "name": "Contacts", "path": "Contacts"},
        {"id": suppliers.id, "name": "Suppliers", "path": "Contacts / Suppliers"},
        {"id": eu.id, "name": "EU", "path": "Contacts / Suppliers / EU"},
    ]


def test_an_inbox_without_subfolders_stores_an_empty_list(mailbox: Mailbox) -> None:
    assert refresh_folder_listing(mailbox.pk) == "listed"

    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert listing.folders == []
    assert listing.listed_at is not None


def test_a_failure_is_stored_in_plain_words_and_the_last_list_is_kept(
    mailbox: Mailbox, ews: EmulatorProcess
) -> None:
    make_folders(mailbox)
    refresh_folder_listing(mailbox.pk)
    ews.control.set_password(mailbox.email_address, "changed-Elsewhere-2")
    forget_connections()

    outcome = refresh_folder_listing(mailbox.pk)

    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert outcome == "failed"
    assert len(listing.folders) == 3
    assert listing.error_text
    assert listing.error_at is not None
    assert PASSWORD not in listing.error_text


def test_a_mailbox_not_on_exchange_is_not_listed(mailbox: Mailbox) -> None:
    EmailServerProfile.objects.filter(mailboxes=mailbox).update(
        server_type=EmailServerProfile.ServerType.IMAP_SMTP
    )

    assert refresh_folder_listing(mailbox.pk) == "failed"
    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert listing.error_text == (
        "Folders can be listed on Exchange and Microsoft 365 mailboxes only."
    )
    assert listing.folders == []


def test_a_deleted_mailbox_is_skipped(db: None) -> None:
    assert refresh_folder_listing(987_654) == "gone"
    assert not ExchangeFolderListing.objects.exists()


def test_waiting_means_asked_for_and_not_answered_since() -> None:
    now = timezone.now()
    listing = ExchangeFolderListing(requested_at=now, listed_at=now - timedelta(minutes=1))
    assert listing.is_waiting
    listing.listed_at = now + timedelta(seconds=1)
    assert not listing.is_waiting
    listing.error_at = now + timedelta(seconds=2)
    assert not listing.is_waiting
    assert not ExchangeFolderListing().is_waiting


# --- The page -------------------------------------------------------------------------------

LISTED = [
    {"id": "AAMkFolder-archive", "name": "archive", "path": "archive"},
    {"id": "AAMkFolder-acme", "name": "Acme", "path": "Projects / Acme"},
]


def url(mailbox: Mailbox, action: str = "") -> str:
    return f"/mailboxes/{mailbox.pk}/{action}"


def listed(mailbox: Mailbox, **fields: Any) -> ExchangeFolderListing:
    fields.setdefault("folders", LISTED)
    fields.setdefault("listed_at", timezone.now())
    return ExchangeFolderListing.objects.create(mailbox=mailbox, **fields)


def test_refresh_enqueues_the_listing_task_and_the_page_says_it_waits(
    team: Team, recorded_tasks: ModuleType
) -> None:
    recorded_tasks.list_exchange_folders = RecordedTask()  # type: ignore[attr-defined]
    mailbox = approved(team.alice_mailbox)
    client = logged_in(team.alice)

    response = client.post(url(mailbox, "folders/refresh/"))
    page = client.get(url(mailbox)).content.decode()

    assert response.status_code == 302
    assert recorded_tasks.list_exchange_folders.calls == [(mailbox.pk,)]
    assert ExchangeFolderListing.objects.get(mailbox=mailbox).requested_at is not None
    assert "Listing your Exchange folders started." in page
    assert "Listing your Exchange folders on a worker" in page


def test_refresh_of_another_users_mailbox_answers_404(
    team: Team, recorded_tasks: ModuleType
) -> None:
    recorded_tasks.list_exchange_folders = RecordedTask()  # type: ignore[attr-defined]

    response = logged_in(team.alice).post(url(team.bob_mailbox, "folders/refresh/"))

    assert response.status_code == 404
    assert recorded_tasks.list_exchange_folders.calls == []
    assert not ExchangeFolderListing.objects.exists()


def test_refresh_is_a_post(team: Team) -> None:
    response = logged_in(team.alice).get(url(team.alice_mailbox, "folders/refresh/"))

    assert response.status_code == 405


def test_without_a_list_the_folder_is_typed_in(team: Team) -> None:
    page = logged_in(team.alice).get(url(team.alice_mailbox)).content.decode()

    assert 'name="exchange_folder_id"' in page
    assert 'name="folder"' not in page
    assert "have not been listed yet" in page
    assert "Refresh folder list" in page


def test_with_a_list_the_folder_is_picked_from_it(team: Team) -> None:
    listed(team.alice_mailbox)

    page = logged_in(team.alice).get(url(team.alice_mailbox)).content.decode()

    assert '<select name="folder"' in page
    assert '<option value="AAMkFolder-acme">Projects / Acme</option>' in page
    assert 'name="exchange_folder_id"' not in page
    assert "2 folders under the Inbox, listed" in page


def test_picking_a_listed_folder_tracks_it_with_its_path_and_regarding_record(
    team: Team,
) -> None:
    mailbox = team.alice_mailbox
    listed(mailbox)
    account = make_account(team.alice, name="Acme Corp")

    response = logged_in(team.alice).post(
        url(mailbox, "folders/"),
        {
            "folder": "AAMkFolder-acme",
            "regarding": f"account:{account.pk}",
            # A forged name is ignored: the name comes from the stored list.
            "exchange_folder_name": "Forged",
        },
    )

    assert response.status_code == 302
    folder = MailboxTrackingFolder.objects.get(mailbox=mailbox)
    assert (folder.exchange_folder_id, folder.exchange_folder_name) == (
        "AAMkFolder-acme",
        "Projects / Acme",
    )
    assert folder.regarding == account


def test_a_folder_not_in_the_list_is_refused(team: Team) -> None:
    mailbox = team.alice_mailbox
    listed(mailbox)

    response = logged_in(team.alice).post(
        url(mailbox, "folders/"), {"folder": "AAMkSomeoneElsesFolder", "regarding": ""}
    )

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not MailboxTrackingFolder.objects.exists()


def test_a_tracked_folder_is_no_longer_offered_nor_accepted_twice(team: Team) -> None:
    mailbox = team.alice_mailbox
    listed(mailbox)
    client = logged_in(team.alice)
    client.post(url(mailbox, "folders/"), {"folder": "AAMkFolder-acme"})

    page = client.get(url(mailbox)).content.decode()
    again = client.post(url(mailbox, "folders/"), {"folder": "AAMkFolder-acme"})

    assert '<option value="AAMkFolder-acme">' not in page
    assert again.status_code == 400
    assert MailboxTrackingFolder.objects.filter(mailbox=mailbox).count() == 1


def test_a_failed_listing_is_shown_in_plain_words(team: Team) -> None:
    listed(
        team.alice_mailbox,
        error_text="The server refused the user name or password.",
        error_at=timezone.now(),
    )

    page = logged_in(team.alice).get(url(team.alice_mailbox)).content.decode()

    assert "The last listing failed: The server refused the user name or password." in page
    assert '<select name="folder"' in page  # the last good list is still offered


def test_a_mailbox_not_on_exchange_offers_no_refresh(team: Team) -> None:
    EmailServerProfile.objects.filter(pk=team.profile.pk).update(
        server_type=EmailServerProfile.ServerType.IMAP_SMTP
    )
    client = logged_in(team.alice)

    page = client.get(url(team.alice_mailbox)).content.decode()
    response = client.post(url(team.alice_mailbox, "folders/refresh/"))

    assert "Refresh folder list" not in page
    assert response.status_code == 302
    assert not ExchangeFolderListing.objects.exists()
