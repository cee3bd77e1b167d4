"""Fixtures shared by the admin, foundation and web tests."""

import pytest
from django.test import Client

from tests import factories
from users.models import User


@pytest.fixture
def superuser(db: None) -> User:
    return factories.make_superuser(username="admin")


@pytest.fixture
def staff_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def non_staff_client(db: None) -> Client:
    client = Client()
    client.force_login(factories.make_user(username="plain", is_staff=False))
    return client
