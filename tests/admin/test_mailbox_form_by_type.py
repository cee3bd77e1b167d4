"""The admin's mailbox form shows the fields of the mailbox's server type and of each item
type, lists typed as "a, b", plain labels, the status in words and a Test & enable button
(issue 14)."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.admin.utils import display_for_value
from django.test import Client
from django.urls import reverse

from ews_emulator.testing import EmulatorProcess
from mailboxes.models import ItemType, Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.admin.conftest import messages_of
from tests.foundation.html_forms import form_data
from tests.sync.helpers import emulated_mailbox

pytestmark = pytest.mark.django_db

ServerType = EmailServerProfile.ServerType


def change_page(client: Client, mailbox: Mailbox) -> str:
    response = client.get(reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk]))
    assert response.status_code == 200
    return str(response.content.decode())


def left_out(page: str) -> set[str]:
    """What the page's own style hides before any script runs: field rows and the
    appointments, contacts and tasks options ("sync_options")."""
    style = re.search(r'<style id="mailbox-left-out">([^<]*)</style>', page)
    if style is None:
        return set()
    selectors = style.group(1).split("{")[0].split(",")
    return {
        re.sub(r"^(\.form-row\.field-|#)|-group$", "", selector.strip()) for selector in selectors
    }


def shown(page: str, name: str) -> bool:
    """Whether the form shows a field to the administrator (not merely carries it)."""
    field = re.search(rf'<(input|select|textarea)[^>]*name="{name}"[^>]*>', page)
    if field is None or 'type="hidden"' in field.group(0):
        return False
    hidden = left_out(page)
    if name.startswith("sync_options-"):
        return "sync_options" not in hidden
    return name not in hidden


def mailbox_on(server_type: str, **profile_fields: object) -> Mailbox:
    profile = factories.make_profile(server_type=server_type, **profile_fields)
    return factories.make_mailbox(profile=profile)


def test_an_exchange_mailbox_shows_credentials_and_options_but_not_pop3s(
    staff_client: Client,
) -> None:
    mailbox = mailbox_on(ServerType.EXCHANGE, incoming_authentication_protocol="basic")
    processed = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    Mailbox.objects.filter(pk=mailbox.pk).update(last_duration_ms=1234, act_processed_at=processed)

    page = change_page(staff_client, mailbox)

    assert shown(page, "username") and shown(page, "password")
    assert shown(page, "act_delivery_method")
    assert not shown(page, "process_and_delete")
    assert "Test &amp; enable</button>" in page
    assert "Appointments, contacts and tasks processed at" in page
    assert "Act processed at" not in page
    assert display_for_value(processed, "-") in page  # formatted as the other times
    assert "2026-03-04" not in page
    assert "1.2 s" in page and "Last duration ms" not in page


def test_each_item_type_shows_only_its_own_options_and_lists_are_typed(
    staff_client: Client,
) -> None:
    mailbox = mailbox_on(ServerType.EXCHANGE)
    mailbox.sync_options.filter(item_type=ItemType.APPOINTMENT).update(
        categories=["CRM", "Customers"]
    )

    page = change_page(staff_client, mailbox)
    data = form_data(page, "mailbox_form")
    rows = {data[f"sync_options-{i}-item_type"][0]: i for i in range(3)}

    appointment, contact, task = (
        rows[ItemType.APPOINTMENT],
        rows[ItemType.CONTACT],
        rows[ItemType.TASK],
    )
    assert shown(page, f"sync_options-{appointment}-sync_from")
    assert not shown(page, f"sync_options-{contact}-sync_from")
    assert not shown(page, f"sync_options-{task}-sync_from")
    assert shown(page, f"sync_options-{contact}-contact_import_scope")
    assert not shown(page, f"sync_options-{appointment}-contact_import_scope")
    assert not shown(page, f"sync_options-{task}-contact_export_categories")
    assert data[f"sync_options-{appointment}-categories"] == ["CRM, Customers"]
    # No JSON to type: no box holds "[]"
    assert not re.search(r"<textarea[^>]*>\s*\[\]\s*</textarea>|value=\"\[\]\"", page)


def test_lists_typed_with_commas_are_saved_as_lists(staff_client: Client) -> None:
    mailbox = mailbox_on(ServerType.EXCHANGE)
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    data = form_data(change_page(staff_client, mailbox), "mailbox_form")
    task = next(i for i in range(3) if data[f"sync_options-{i}-item_type"] == [ItemType.TASK])
    data[f"sync_options-{task}-categories"] = ["CRM ,  Follow-up,,"]

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    options = mailbox.sync_options.get(item_type=ItemType.TASK)
    assert options.categories == ["CRM", "Follow-up"]


@pytest.mark.parametrize(
    ("server_type", "process_and_delete"),
    [(ServerType.IMAP_SMTP, False), (ServerType.POP3_SMTP, True)],
)
def test_a_pop3_or_imap_mailbox_has_no_appointments_contacts_or_tasks(
    staff_client: Client, server_type: str, process_and_delete: bool
) -> None:
    mailbox = mailbox_on(server_type, incoming_server_location="mail.example.com")

    page = change_page(staff_client, mailbox)

    assert not shown(page, "act_delivery_method")
    assert "sync_options" in left_out(page)
    assert shown(page, "process_and_delete") is process_and_delete
    assert shown(page, "username")


def test_a_microsoft_365_mailbox_asks_for_no_password(staff_client: Client) -> None:
    mailbox = mailbox_on(
        ServerType.MICROSOFT_365, oauth_tenant_id="contoso.example", oauth_client_id="app"
    )

    page = change_page(staff_client, mailbox)

    assert not shown(page, "password") and not shown(page, "username")
    assert shown(page, "act_delivery_method")
    assert "sync_options" not in left_out(page)


def test_the_form_s_test_and_enable_button_tests_on_a_worker(
    staff_client: Client, on_workers, ews: EmulatorProcess
) -> None:
    mailbox = emulated_mailbox(ews)
    url = reverse("admin:mailboxes_mailbox_test_and_enable", args=[mailbox.pk])

    response = on_workers(staff_client.post, url, follow=True)

    assert messages_of(response) == ["Test & enable queued for 1 mailbox."]
    mailbox.refresh_from_db()
    assert (mailbox.test_status, mailbox.is_active) == (Mailbox.ChannelStatus.SUCCESS, True)
    assert "<strong>Not synchronized yet</strong>" in response.content.decode()


def test_the_button_refuses_a_mailbox_waiting_for_approval(staff_client: Client) -> None:
    mailbox = mailbox_on(ServerType.EXCHANGE)
    url = reverse("admin:mailboxes_mailbox_test_and_enable", args=[mailbox.pk])

    response = staff_client.post(url, follow=True)

    [message] = messages_of(response)
    assert message.startswith("Not tested: ")
    assert staff_client.get(url).status_code == 403


def test_a_mailbox_added_on_a_microsoft_365_profile_asks_for_no_password(
    staff_client: Client,
) -> None:
    profile = factories.make_profile(
        server_type=ServerType.MICROSOFT_365,
        oauth_tenant_id="contoso.example",
        oauth_client_id="app",
    )
    exchange = factories.make_profile()
    url = reverse("admin:mailboxes_mailbox_add")
    user = factories.make_user()

    page = staff_client.get(url, {"profile": profile.pk}).content.decode()
    asks_exchange = staff_client.get(url, {"profile": exchange.pk}).content.decode()

    assert not shown(page, "password") and not shown(page, "username")
    assert shown(asks_exchange, "password") and shown(asks_exchange, "username")
    data = form_data(page, "mailbox_form")
    data.update(user=[str(user.pk)], email_address=[user.email], password=["typed anyway"])
    response = staff_client.post(f"{url}?profile={profile.pk}", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    mailbox = Mailbox.objects.get(user=user)
    assert (mailbox.profile, mailbox.username, mailbox.password) == (profile, "", "")


def test_the_form_s_live_state_is_json_for_staff_who_may_view_it(
    staff_client: Client, staff_without_permissions_client: Client, non_staff_client: Client
) -> None:
    mailbox = mailbox_on(ServerType.EXCHANGE)
    url = reverse("admin:mailboxes_mailbox_state", args=[mailbox.pk])

    state = staff_client.get(url).json()

    assert state["test"] == {"status": "not_run", "tested_at": None}
    assert state["status"]["words"]
    assert "password" not in str(state)
    assert staff_without_permissions_client.get(url).status_code == 403
    assert non_staff_client.get(url).status_code == 302  # to the admin's sign-in
