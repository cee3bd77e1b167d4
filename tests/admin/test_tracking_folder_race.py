"""Two admins add a mailbox's 25th tracking folder at the same moment: the one who loses
gets the limit as a form error, not an error page (PostgreSQL: the add form counts under
the mailbox's lock, in the transaction that saves the folder)."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from mailboxes.models import MAX_TRACKING_FOLDERS, Mailbox, MailboxTrackingFolder
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_the_admin_losing_the_race_for_the_last_folder_gets_a_form_error(
    staff_client: Client,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: there is no race to lose")
    mailbox = factories.make_mailbox()
    for _ in range(MAX_TRACKING_FOLDERS - 1):
        factories.make_tracking_folder(mailbox=mailbox)
    locked = threading.Event()

    def other_admin() -> None:
        # Saves the 25th folder and is slow to commit.
        try:
            with transaction.atomic():
                list(Mailbox.objects.select_for_update().filter(pk=mailbox.pk).values("pk"))
                factories.make_tracking_folder(mailbox=mailbox)
                locked.set()
                time.sleep(2)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_admin)
    thread.start()
    assert locked.wait(10)
    response = staff_client.post(
        reverse("admin:mailboxes_mailboxtrackingfolder_add"),
        {
            "mailbox": mailbox.pk,
            "exchange_folder_id": "AAMkLate",
            "exchange_folder_name": "Late",
            "regarding_content_type": "",
            "regarding_object_id": "",
        },
    )
    thread.join()

    assert response.status_code == 200
    assert b"at most 25 tracking folders" in response.content
    assert MailboxTrackingFolder.objects.filter(mailbox=mailbox).count() == MAX_TRACKING_FOLDERS
