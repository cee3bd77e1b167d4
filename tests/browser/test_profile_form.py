"""The profile form in a real browser: choosing a server type shows only its fields; the
connection test's result shows without a reload by hand."""

from typing import Any

import pytest

from ews_emulator.testing import EmulatorProcess
from tests.browser.conftest import screenshot
from tests.browser.test_flows import (  # noqa: F401 (ews, worker: the flows' fixtures)
    DANA,
    WORKER_WAIT_SECONDS,
    _dana_on,
    ews,
    sign_in_to_admin,
    worker,
)
from tests.factories import PASSWORD, make_person
from tests.sync.workers import Workers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = {
    "tenant": ".form-row.field-oauth_tenant_id",
    "secret": ".form-row.field-oauth_client_secret",
    "graph": ".form-row.field-graph_endpoint",
    "location": ".form-row.field-incoming_server_location",
    "autodiscover": ".form-row.field-incoming_use_autodiscover",
    "username": ".form-row.field-incoming_username",
    "outgoing": ".form-row.field-outgoing_server_location",
    "version": ".form-row.field-exchange_version",
    "name": ".form-row.field-name",
    "polling": ".form-row.field-min_polling_interval_minutes",
}


def visible(page: Any) -> set[str]:
    return {key for key, selector in ROWS.items() if page.locator(selector).is_visible()}


def test_choosing_a_server_type_shows_only_its_fields(page: Any, live_server: Any) -> None:
    make_person("ada", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/profiles/emailserverprofile/add/")

    page.select_option("#id_server_type", "microsoft_365")
    assert visible(page) == {"tenant", "secret", "graph", "name", "polling"}
    screenshot(page, "profile-form-microsoft-365")

    page.select_option("#id_server_type", "pop3_smtp")
    assert visible(page) == {"location", "username", "outgoing", "name", "polling"}

    page.select_option("#id_server_type", "exchange_online")
    assert visible(page) == {"tenant", "secret", "location", "version", "name", "polling"}

    page.select_option("#id_server_type", "exchange")
    basic = {"location", "autodiscover", "username", "outgoing", "version", "name", "polling"}
    assert visible(page) == basic
    page.select_option("#id_incoming_authentication_protocol", "oauth")
    assert visible(page) == basic | {"tenant", "secret"}
    # The Entra ID fieldset as a whole is hidden when none of its fields applies.
    page.select_option("#id_server_type", "imap_smtp")
    assert not page.locator("fieldset:has(.field-oauth_tenant_id)").is_visible()


def test_the_connection_test_shows_the_worker_s_result_without_a_reload_by_hand(
    page: Any,
    live_server: Any,
    ews: EmulatorProcess,  # noqa: F811
    worker: Workers,  # noqa: F811
) -> None:
    # given a profile with Dana's approved mailbox, and a worker
    mailbox = _dana_on(ews, password=DANA[1])
    sign_in_to_admin(page, live_server.url, make_person("ada", is_staff=True, is_superuser=True))
    page.goto(f"{live_server.url}/admin/profiles/emailserverprofile/{mailbox.profile_id}/change/")

    # when the administrator presses Test connection
    page.click("#test-connection-button")

    # then the page, polling, shows the worker's result
    status = "#connection-test [data-field=status]"
    try:
        page.wait_for_function(
            # The page is replaced twice (the form's redirect, the poller's reload): while a
            # new one is still loading the status may not exist yet.
            f"document.querySelector('{status}')?.textContent.trim() === 'Success'",
            timeout=WORKER_WAIT_SECONDS * 1000,
        )
    except Exception as error:
        raise AssertionError(f"no result shown\n{worker.output()[-4000:]}") from error
    screenshot(page, "profile-connection-test-live")
    assert page.inner_text("#connection-test [data-field=message]") == "1 of 1 mailboxes passed."
