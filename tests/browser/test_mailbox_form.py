"""The admin's mailbox form in a real browser (Debian's Chromium) at 1366 px: picking another
profile shows the fields of its server type at once, before anything is saved (issue 14).
Its Test & enable, live, is in test_flows.py (with the worker)."""

from typing import Any

import pytest

from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests.browser.conftest import screenshot
from tests.browser.test_flows import sign_in_to_admin
from tests.factories import make_person

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = {
    "password": ".form-row.field-password",
    "act": ".form-row.field-act_delivery_method",
    "options": "#sync_options-group",
    "process_and_delete": ".form-row.field-process_and_delete",
    "credentials": "fieldset:has(.field-username)",
}


def visible(page: Any) -> set[str]:
    return {key for key, selector in ROWS.items() if page.locator(selector).is_visible()}


def pick_profile(page: Any, name: str) -> None:
    """Through the admin's autocomplete, as a person does."""
    page.click(".form-row.field-profile .select2-selection")
    page.fill(".select2-search__field", name.split()[0])
    page.click(f".select2-results__option:has-text('{name}')")


def test_picking_another_profile_shows_its_fields_before_saving(
    page: Any, live_server: Any
) -> None:
    # given a user's mailbox on an IMAP profile, and two other profiles
    imap = EmailServerProfile.objects.create(
        name="Imap server", server_type="imap_smtp", incoming_server_location="imap.example.test"
    )
    EmailServerProfile.objects.create(
        name="Microsoft 365 tenant",
        server_type="microsoft_365",
        oauth_tenant_id="contoso.example",
        oauth_client_id="app",
    )
    EmailServerProfile.objects.create(
        name="Pop3 server", server_type="pop3_smtp", incoming_server_location="pop.example.test"
    )
    mailbox = Mailbox.objects.get(user=make_person("vera"))
    Mailbox.objects.filter(pk=mailbox.pk).update(profile=imap)
    sign_in_to_admin(page, live_server.url, make_person("ada", is_staff=True, is_superuser=True))
    page.goto(f"{live_server.url}/admin/mailboxes/mailbox/{mailbox.pk}/change/")
    assert visible(page) == {"password", "credentials"}

    # when the administrator picks the Microsoft 365 profile
    pick_profile(page, "Microsoft 365 tenant")

    # then the form asks for no password and offers appointments, contacts and tasks
    assert visible(page) == {"act", "options"}
    screenshot(page, "admin-mailbox-profile-picked-microsoft-365")

    # and picking the POP3 profile offers "process and delete" and a password again
    pick_profile(page, "Pop3 server")
    assert visible(page) == {"password", "credentials", "process_and_delete"}
    screenshot(page, "admin-mailbox-profile-picked-pop3")

    # nothing was saved meanwhile
    mailbox.refresh_from_db()
    assert mailbox.profile == imap
