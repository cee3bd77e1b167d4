"""Every URL the admin adds answers staff with the permission only."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from mailboxes.models import ExchangeSyncIdMapping, ProcessedMessage
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


def kept_raw() -> ProcessedMessage:
    processed = ProcessedMessage.objects.create(
        mailbox=factories.make_mailbox(),
        protocol="imap",
        folder_id="INBOX",
        uid="7",
        outcome=ProcessedMessage.Outcome.FAILED,
    )
    processed.raw_mime.save("kept.eml", ContentFile(b"Subject: <script>x</script>\r\n\r\nbody"))
    return processed


def processed_raw() -> tuple[str, str]:
    return "get", reverse("admin:mailboxes_processedmessage_raw", args=[kept_raw().pk])


NEW_URLS: list[Callable[[], tuple[str, str]]] = [
    dashboard,
    connection_test,
    connection_status,
    conflicts,
    conflict_page,
    decide,
    sync_runs,
    processed_raw,
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


def test_a_kept_raw_message_is_linked_and_downloaded_through_the_admin(
    staff_client: Client,
) -> None:
    processed = kept_raw()
    raw_url = reverse("admin:mailboxes_processedmessage_raw", args=[processed.pk])

    page = staff_client.get(
        reverse("admin:mailboxes_processedmessage_change", args=[processed.pk])
    ).content.decode()
    download = staff_client.get(raw_url)

    # The file's own URL under MEDIA_URL is served by nothing: the page must not link to it.
    assert processed.raw_mime.url not in page
    assert f'href="{raw_url}"' in page
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["Content-Type"] == "message/rfc822"
    assert b"".join(download.streaming_content).endswith(b"body")  # type: ignore[attr-defined]
