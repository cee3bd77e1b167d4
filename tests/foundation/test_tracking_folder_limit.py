"""The tracking-folder limit holds when a folder is saved without a form, and when two people
add the last folder at the same moment (PostgreSQL: the mailbox row is locked while counting)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from mailboxes.models import MAX_TRACKING_FOLDERS, MailboxTrackingFolder
from tests import factories


def _folder(mailbox_id: int, n: int) -> MailboxTrackingFolder:
    return MailboxTrackingFolder(
        mailbox_id=mailbox_id, exchange_folder_id=f"AAMkRace{n}", exchange_folder_name=f"Race {n}"
    )


@pytest.mark.django_db
def test_saving_past_the_limit_without_a_form_is_refused() -> None:
    mailbox = factories.make_mailbox()
    for _ in range(MAX_TRACKING_FOLDERS):
        factories.make_tracking_folder(mailbox=mailbox)

    with pytest.raises(ValidationError) as raised:
        _folder(mailbox.pk, 0).save()

    assert raised.value.code == "too_many_tracking_folders"
    assert mailbox.tracking_folders.count() == MAX_TRACKING_FOLDERS


@pytest.mark.django_db(transaction=True)
def test_two_people_adding_the_last_folder_at_once_add_one() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: there is no race to lose")
    mailbox = factories.make_mailbox()
    for _ in range(MAX_TRACKING_FOLDERS - 1):
        factories.make_tracking_folder(mailbox=mailbox)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def add(n: int) -> None:
        try:
            start.wait()
            _folder(mailbox.pk, n).save()
            outcomes.append("added")
        except ValidationError as error:
            outcomes.append(str(error.code))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["added", "too_many_tracking_folders"]
    assert mailbox.tracking_folders.count() == MAX_TRACKING_FOLDERS
