"""The mailbox page edits its options and tracking folders inline, within the limits."""

from django.test import Client
from django.urls import reverse

from mailboxes.models import MAX_TRACKING_FOLDERS, Mailbox
from tests import factories
from tests.foundation.html_forms import form_data

PREFIX = "tracking_folders"


def with_new_folders(
    data: dict[str, list[str]], mailbox: Mailbox, count: int
) -> dict[str, list[str]]:
    """The form data plus `count` new tracking folder rows, as the "add another" link makes."""
    existing = int(data[f"{PREFIX}-TOTAL_FORMS"][0])
    for index in range(existing, existing + count):
        data[f"{PREFIX}-{index}-exchange_folder_name"] = [f"Folder {index}"]
        data[f"{PREFIX}-{index}-exchange_folder_id"] = [f"AAMkFolder{index}"]
        data[f"{PREFIX}-{index}-mailbox"] = [str(mailbox.pk)]
    data[f"{PREFIX}-TOTAL_FORMS"] = [str(existing + count)]
    return data


def mailbox_page(client: Client, mailbox: Mailbox) -> tuple[str, dict[str, list[str]]]:
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    return url, form_data(client.get(url).content.decode(), "mailbox_form")


def test_mailbox_page_shows_the_three_item_type_options(staff_client: Client, db: None) -> None:
    mailbox = factories.make_mailbox()

    _, data = mailbox_page(staff_client, mailbox)

    assert data["sync_options-TOTAL_FORMS"] == ["3"]
    item_types = sorted(data[f"sync_options-{i}-item_type"][0] for i in range(3))
    assert item_types == ["appointment", "contact", "task"]


def test_conflict_strategy_is_changed_inline(staff_client: Client, db: None) -> None:
    mailbox = factories.make_mailbox()
    url, data = mailbox_page(staff_client, mailbox)
    index = next(i for i in range(3) if data[f"sync_options-{i}-item_type"] == ["contact"])
    data[f"sync_options-{index}-conflict_strategy"] = ["manual"]

    response = staff_client.post(url, data)

    assert response.status_code == 302
    assert mailbox.sync_options.get(item_type="contact").conflict_strategy == "manual"
    assert mailbox.sync_options.get(item_type="task").conflict_strategy == "most_recent_wins"


def test_tracking_folders_up_to_the_limit_are_added_inline(staff_client: Client, db: None) -> None:
    mailbox = factories.make_mailbox()
    url, data = mailbox_page(staff_client, mailbox)

    response = staff_client.post(url, with_new_folders(data, mailbox, MAX_TRACKING_FOLDERS))

    assert response.status_code == 302
    assert mailbox.tracking_folders.count() == MAX_TRACKING_FOLDERS


def test_tracking_folders_past_the_limit_are_refused_inline(staff_client: Client, db: None) -> None:
    # given a mailbox with 24 folders, and a post that adds two more at once
    mailbox = factories.make_mailbox()
    for _ in range(MAX_TRACKING_FOLDERS - 1):
        factories.make_tracking_folder(mailbox=mailbox)
    url, data = mailbox_page(staff_client, mailbox)

    response = staff_client.post(url, with_new_folders(data, mailbox, 2))

    assert response.status_code == 200
    assert "Please submit at most 25 forms." in response.content.decode()
    assert mailbox.tracking_folders.count() == MAX_TRACKING_FOLDERS - 1
