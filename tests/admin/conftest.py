from typing import Any

import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def staff_without_permissions_client(db: None) -> Client:
    client = Client()
    client.force_login(factories.make_user(username="helpdesk", is_staff=True))
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]
