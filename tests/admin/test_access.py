"""Every URL the admin adds answers staff with the permission only."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from mailboxes.models import ExchangeSyncIdMapping
from tests import factories
from users.models import User

pytestmark = pytest.mark.django_db


def dashboard() -> tuple[str, str]:
    return "get", reverse("admin:mailboxes_health_dashboard")


def connection_test() -> tuple[str, str]:
    profile = factories.make_profile()
    return "post", reverse("admin:profiles_emailserverprofile_test_connection", args=[profile.pk])


def connection_status() -> tuple[str, str]:
    profile = factories.make_profile()
    return "get", reverse("admin:profiles_emailserverprofile_test_status", args=[profile.pk])


def conflicts() -> tuple[str, str]:
    return "get", reverse("admin:mailboxes_pendingconflict_changelist")


def conflict_page() -> tuple[str, str]:
    mapping = factories.make_mapping(user_decision=ExchangeSyncIdMapping.UserDecision.PENDING)
    return "get", reverse("admin:mailboxes_pendingconflict_change", args=[mapping.pk])


def decide() -> tuple[str, str]:
    mapping = factories.make_mapping(user_decision=ExchangeSyncIdMapping.UserDecision.PENDING)
    return "post", reverse("admin:mailboxes_pendingconflict_decide", args=[mapping.pk])


def sync_runs() -> tuple[str, str]:
    return "get", reverse("admin:mailboxes_syncrun_changelist")


NEW_URLS: list[Callable[[], tuple[str, str]]] = [
    dashboard,
    connection_test,
    connection_status,
    conflicts,
    conflict_page,
    decide,
    sync_runs,
]
IDS = [f.__name__ for f in NEW_URLS]


def request(client: Client, method: str, url: str):
    return getattr(client, method)(url, {"decision": "keep_crm"} if method == "post" else None)


@pytest.mark.parametrize("make_url", NEW_URLS, ids=IDS)
def test_anonymous_visitors_are_sent_to_the_login(make_url) -> None:
    method, url = make_url()

    response = request(Client(), method, url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("make_url", NEW_URLS, ids=IDS)
def test_users_who_are_not_staff_are_refused(non_staff_client: Client, make_url) -> None:
    method, url = make_url()

    response = request(non_staff_client, method, url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("make_url", NEW_URLS, ids=IDS)
def test_staff_without_the_permission_get_403(
    staff_without_permissions_client: Client, make_url
) -> None:
    method, url = make_url()

    response = request(staff_without_permissions_client, method, url)

    assert response.status_code == 403


def test_view_permission_alone_shows_a_conflict_but_cannot_decide_it(db: None) -> None:
    viewer = factories.make_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_pendingconflict"),
    )
    client = Client()
    client.force_login(User.objects.get(pk=viewer.pk))
    _, page_url = conflict_page()
    mapping_id = int(page_url.rstrip("/").split("/")[-2])

    page = client.get(page_url)
    refused = client.post(
        reverse("admin:mailboxes_pendingconflict_decide", args=[mapping_id]),
        {"decision": "keep_crm"},
    )

    assert page.status_code == 200
    assert "Keep the CRM version</button>" not in page.content.decode()
    assert refused.status_code == 403
    assert (
        ExchangeSyncIdMapping.objects.get(pk=mapping_id).user_decision
        == ExchangeSyncIdMapping.UserDecision.PENDING
    )
