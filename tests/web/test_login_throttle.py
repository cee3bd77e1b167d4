"""Sign-in attempts are throttled per user name and per client address, on the self-service
login and the admin login alike: real HTTP posts to the live server, CSRF token included."""

import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from http.cookiejar import CookieJar
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from tests import factories
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Right-pass-2026"
LIMIT = 5
SELF_SERVICE = "/accounts/login/"
ADMIN = "/admin/login/"


class Visitor:
    """One browser: its own cookies, optionally behind the trusted proxy with an address."""

    def __init__(self, base_url: str, address: str | None = None) -> None:
        self.base_url = base_url
        self.headers = {"X-Forwarded-For": address} if address else {}
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def _open(self, request: urllib.request.Request) -> tuple[int, dict[str, str], str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def sign_in(self, path: str, username: str, password: str) -> tuple[int, dict[str, str], str]:
        status, _, form = self._open(
            urllib.request.Request(self.base_url + path, headers=self.headers)
        )
        assert status == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token[1], "username": username, "password": password}
        ).encode()
        return self._open(
            urllib.request.Request(
                self.base_url + path,
                data=body,
                headers={**self.headers, "Referer": self.base_url + path},
                method="POST",
            )
        )


def signed_in(result: tuple[int, dict[str, str], str]) -> bool:
    # Django answers a successful sign-in with a redirect, followed here to the landing page.
    status, _, page = result
    return status == 200 and "Sign out" in page


@pytest.fixture
def carol(db: None) -> User:
    return factories.make_user(username="carol", password=PASSWORD)


@pytest.fixture
def behind_proxy() -> Any:
    with override_settings(CRMSYNC_TRUSTED_PROXY_COUNT=1):
        yield


def test_wrong_passwords_for_one_user_lock_her_out_with_a_message_and_a_time(
    live_server: Any, carol: User
) -> None:
    visitor = Visitor(live_server.url)
    for _ in range(LIMIT - 1):
        status, _, page = visitor.sign_in(SELF_SERVICE, "carol", "wrong")
        assert status == 200
        assert "did not match" in page

    # the limit-th wrong password locks
    status, headers, page = visitor.sign_in(SELF_SERVICE, "carol", "wrong")

    assert status == 429
    assert "Too many failed sign-ins" in page
    assert "locked for 15 minutes, until" in page
    until = timezone.localtime(timezone.now() + timedelta(minutes=15))
    assert until.strftime("%H:") in page
    assert headers["Retry-After"] == str(15 * 60)
    # and even the right password is refused while locked
    status, _, page = visitor.sign_in(SELF_SERVICE, "carol", PASSWORD)
    assert status == 429
    assert "Too many failed sign-ins" in page


def test_the_user_is_locked_from_every_address(
    live_server: Any, carol: User, behind_proxy: None
) -> None:
    # one wrong password from each of several addresses: per user, they add up
    for n in range(LIMIT):
        Visitor(live_server.url, f"203.0.113.{n + 1}").sign_in(SELF_SERVICE, "carol", "wrong")

    status, _, _ = Visitor(live_server.url, "198.51.100.7").sign_in(SELF_SERVICE, "carol", PASSWORD)

    assert status == 429
    # another user from that fresh address is not affected
    factories.make_user(username="dave", password=PASSWORD)
    assert signed_in(
        Visitor(live_server.url, "198.51.100.7").sign_in(SELF_SERVICE, "dave", PASSWORD)
    )


def test_an_address_trying_many_users_is_locked_for_every_user(
    live_server: Any, carol: User, behind_proxy: None
) -> None:
    attacker = "203.0.113.66"
    for n in range(LIMIT):
        Visitor(live_server.url, attacker).sign_in(SELF_SERVICE, f"guess{n}", "wrong")

    # from that address even carol's right password is refused
    status, _, page = Visitor(live_server.url, attacker).sign_in(SELF_SERVICE, "carol", PASSWORD)
    assert status == 429
    assert "Too many failed sign-ins" in page
    # carol from her own address signs in
    assert signed_in(
        Visitor(live_server.url, "198.51.100.8").sign_in(SELF_SERVICE, "carol", PASSWORD)
    )


def test_forwarded_addresses_written_by_the_client_are_not_trusted(
    live_server: Any, carol: User, behind_proxy: None
) -> None:
    # The client varies the part of X-Forwarded-For it controls; the proxy's entry (last) is
    # the same, so the attempts count against one address.
    for n in range(LIMIT):
        Visitor(live_server.url, f"10.9.9.{n}, 203.0.113.77").sign_in(
            SELF_SERVICE, f"guess{n}", "wrong"
        )

    status, _, _ = Visitor(live_server.url, "10.9.9.200, 203.0.113.77").sign_in(
        SELF_SERVICE, "carol", PASSWORD
    )

    assert status == 429


def test_the_admin_login_is_throttled_too(live_server: Any, db: None) -> None:
    factories.make_superuser(username="root", password=PASSWORD)
    visitor = Visitor(live_server.url)
    for _ in range(LIMIT - 1):
        status, _, page = visitor.sign_in(ADMIN, "root", "wrong")
        assert status == 200
        assert "Please enter the correct username and password" in page

    status, _, page = visitor.sign_in(ADMIN, "root", "wrong")

    assert status == 429
    assert "locked for 15 minutes" in page
    status, _, _ = visitor.sign_in(ADMIN, "root", PASSWORD)
    assert status == 429


def test_a_successful_sign_in_clears_the_failures(live_server: Any, carol: User) -> None:
    visitor = Visitor(live_server.url)
    for _ in range(LIMIT - 1):
        visitor.sign_in(SELF_SERVICE, "carol", "wrong")
    assert signed_in(Visitor(live_server.url).sign_in(SELF_SERVICE, "carol", PASSWORD))

    for _ in range(LIMIT - 1):
        status, _, _ = Visitor(live_server.url).sign_in(SELF_SERVICE, "carol", "wrong")
        assert status == 200

    assert signed_in(Visitor(live_server.url).sign_in(SELF_SERVICE, "carol", PASSWORD))


def test_the_lock_ends_after_the_cool_off_time(live_server: Any, carol: User) -> None:
    from axes.models import AccessAttempt

    visitor = Visitor(live_server.url)
    for _ in range(LIMIT):
        visitor.sign_in(SELF_SERVICE, "carol", "wrong")
    assert visitor.sign_in(SELF_SERVICE, "carol", PASSWORD)[0] == 429

    # 16 minutes later (the attempts are dated back rather than the test waiting)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert signed_in(visitor.sign_in(SELF_SERVICE, "carol", PASSWORD))
