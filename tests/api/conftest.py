from dataclasses import dataclass

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mailboxes.models import Queue
from tests.factories import SERVER_SIDE_SYNC, make_person, make_queue
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
def _fresh_throttles() -> None:
    cache.clear()  # throttle counts start at zero in every test


@pytest.fixture
def people(db: None) -> People:
    queue_owner = make_person("quinn")
    member = make_person("molly")
    return People(
        alice=make_person("alice"),
        stranger=make_person("stan"),
        queue_owner=queue_owner,
        member=member,
        staff=make_person("sam", is_staff=True),
        queue=make_queue(queue_owner, members=(member,), name="support", **SERVER_SIDE_SYNC),
    )


def client_for(user: User | None) -> APIClient:
    """A client authenticated with the user's API token, as a script would be."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
