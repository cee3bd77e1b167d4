from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mailboxes.models import Queue
from tests.api.factories import make_queue, make_user
from users.models import User


@dataclass
class People:
    """Alice owns records; the support queue is owned by Quinn with Molly as a member."""

    alice: User
    stranger: User
    queue_owner: User
    member: User
    staff: User
    queue: Queue


@pytest.fixture(autouse=True)
def _fast_tests(settings: Any) -> None:
    # PBKDF2 makes each user cost a fifth of a second; these tests are not about hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # throttle counts start at zero in every test


@pytest.fixture
def people(db: None) -> People:
    queue_owner = make_user("quinn")
    member = make_user("molly")
    return People(
        alice=make_user("alice"),
        stranger=make_user("stan"),
        queue_owner=queue_owner,
        member=member,
        staff=make_user("sam", is_staff=True),
        queue=make_queue(queue_owner, members=(member,), name="support"),
    )


def client_for(user: User | None) -> APIClient:
    """A client authenticated with the user's API token, as a script would be."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
