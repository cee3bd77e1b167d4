"""A valid but wrong encryption key: pages that do not show a password keep working, the
health check names the credentials no key decrypts, and nothing re-encrypts them by accident.

(The sync of such a mailbox is in tests/sync/test_undecryptable_credentials.py.)
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from crmsync.crypto import DecryptionError
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.foundation.html_forms import form_data
from tests.foundation.raw_sql import raw_column

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
SECRET = "Mailbox-secret-4711"
PROFILE_SECRET = "Service-account-0815"

UseKeys = Callable[..., None]


@dataclass
class Stored:
    mailbox: Mailbox
    profile: EmailServerProfile
    owner: Client


@pytest.fixture
def written_with_the_old_key(db: None, encryption_keys: UseKeys) -> Stored:
    """A profile and a user's mailbox whose credentials were encrypted with a key that is
    then replaced by another valid one."""
    encryption_keys(OLD_KEY)
    profile = factories.make_profile(name="Exchange", incoming_password=PROFILE_SECRET)
    user = factories.make_user(username="alice")
    mailbox = factories.make_mailbox(
        user=user, profile=profile, password=SECRET, approval_status="approved"
    )
    encryption_keys(NEW_KEY)
    cache.clear()
    owner = Client()
    owner.force_login(user)
    return Stored(mailbox, profile, owner)


def test_the_password_itself_still_cannot_be_read(written_with_the_old_key: Stored) -> None:
    mailbox = Mailbox.objects.get(pk=written_with_the_old_key.mailbox.pk)

    with pytest.raises(DecryptionError, match="CRMSYNC_ENCRYPTION_KEYS"):
        _ = mailbox.password


@pytest.mark.parametrize("page", ["home", "my-mailbox", "mailbox"])
def test_self_service_pages_work(written_with_the_old_key: Stored, page: str) -> None:
    args = [written_with_the_old_key.mailbox.pk] if page == "mailbox" else []

    response = written_with_the_old_key.owner.get(
        reverse(f"mailboxes:{page}", args=args), follow=True
    )

    assert response.status_code == 200


def test_the_api_works(written_with_the_old_key: Stored) -> None:
    factories.make_email(mailbox=written_with_the_old_key.mailbox)

    response = written_with_the_old_key.owner.get("/api/v1/emails/")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:mailboxes_mailbox_changelist",
        "admin:mailboxes_mailbox_change",
        "admin:mailboxes_health_dashboard",
        "admin:profiles_emailserverprofile_changelist",
        "admin:profiles_emailserverprofile_change",
    ],
)
def test_admin_pages_work(
    written_with_the_old_key: Stored, staff_client: Client, url_name: str
) -> None:
    stored = written_with_the_old_key
    args = []
    if url_name.endswith("_change"):
        args = [stored.profile.pk if "profile" in url_name else stored.mailbox.pk]

    response = staff_client.get(reverse(url_name, args=args))

    assert response.status_code == 200
    if url_name.endswith("_change"):
        assert "A password is stored." in response.content.decode()


def test_admin_saves_other_fields_and_keeps_the_stored_password(
    written_with_the_old_key: Stored, staff_client: Client
) -> None:
    mailbox = written_with_the_old_key.mailbox
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    before = raw_column(Mailbox, "password", mailbox.pk)
    data = form_data(staff_client.get(url).content.decode(), "mailbox_form")
    data["name"] = ["Renamed while the key is missing"]

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Mailbox.objects.get(pk=mailbox.pk).name == "Renamed while the key is missing"
    assert raw_column(Mailbox, "password", mailbox.pk) == before


def test_admin_fixes_it_by_entering_the_password_again(
    written_with_the_old_key: Stored, staff_client: Client
) -> None:
    mailbox = written_with_the_old_key.mailbox
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    data = form_data(staff_client.get(url).content.decode(), "mailbox_form")
    data["password"] = ["typed-again"]

    response = staff_client.post(url, data)

    assert response.status_code == 302
    assert Mailbox.objects.get(pk=mailbox.pk).password == "typed-again"


def test_loading_saving_and_reloading_a_row_neither_decrypts_nor_re_encrypts(
    written_with_the_old_key: Stored,
) -> None:
    before = raw_column(Mailbox, "password", written_with_the_old_key.mailbox.pk)
    mailbox = Mailbox.objects.get(pk=written_with_the_old_key.mailbox.pk)

    mailbox.name = "Saved as a whole"
    mailbox.full_clean()
    mailbox.save()
    mailbox.refresh_from_db()
    deferred = Mailbox.objects.defer("password").get(pk=mailbox.pk)
    deferred.save()

    assert raw_column(Mailbox, "password", mailbox.pk) == before
    assert mailbox.name == "Saved as a whole"


def test_health_check_counts_the_undecryptable_credentials_without_naming_them(
    written_with_the_old_key: Stored, client: Client
) -> None:
    stored = written_with_the_old_key
    # and one credential that the current key does decrypt, which is not counted
    factories.make_mailbox(password="current-key-secret")

    response = client.get("/healthz")

    body = response.content.decode()
    assert response.status_code == 200
    # Anyone may call /healthz: it says how many, not which records hold them.
    assert response.json() == {"status": "degraded", "undecryptable_credentials": 2}
    for secret in (SECRET, PROFILE_SECRET, "current-key-secret"):
        assert secret not in body
    assert raw_column(Mailbox, "password", stored.mailbox.pk) not in body


def test_health_dashboard_names_the_undecryptable_credentials_for_staff(
    written_with_the_old_key: Stored, staff_client: Client
) -> None:
    stored = written_with_the_old_key
    cache.clear()

    page = staff_client.get(reverse("admin:mailboxes_health_dashboard")).content.decode()

    assert "Credentials no key decrypts" in page
    mailbox_url = reverse("admin:mailboxes_mailbox_change", args=[stored.mailbox.pk])
    profile_url = reverse("admin:profiles_emailserverprofile_change", args=[stored.profile.pk])
    assert f'href="{mailbox_url}"' in page
    assert f'href="{profile_url}"' in page
    assert SECRET not in page and PROFILE_SECRET not in page


def test_health_dashboard_says_nothing_of_credentials_when_all_decrypt(
    db: None, staff_client: Client
) -> None:
    cache.clear()
    factories.make_mailbox(password=SECRET)

    page = staff_client.get(reverse("admin:mailboxes_health_dashboard")).content.decode()

    assert "Credentials no key decrypts" not in page


def test_health_check_is_ok_when_every_credential_decrypts(db: None, client: Client) -> None:
    cache.clear()
    factories.make_mailbox(password=SECRET)
    factories.make_profile(incoming_password=PROFILE_SECRET, outgoing_password="")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
