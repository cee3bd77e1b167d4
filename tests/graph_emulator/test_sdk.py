"""Microsoft's msgraph-sdk against the emulator: delta round trips as an SDK user writes them."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph_core import GraphClientFactory

from .conftest import GRAPH_SCOPE, Tenant

pytestmark = pytest.mark.e2e


class MsalTokenProvider(AccessTokenProvider):
    """Tokens from msal's ConfidentialClientApplication (it caches them until expiry)."""

    def __init__(self, tenant: Tenant, client_id: str) -> None:
        self.app = tenant.msal_app(client_id)
        self.hosts = AllowedHostsValidator([tenant.base.split("://")[1]])

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        result = self.app.acquire_token_for_client(scopes=GRAPH_SCOPE)
        return str(result["access_token"])

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self.hosts


def make_client(tenant: Tenant) -> GraphServiceClient:
    trust = ssl.create_default_context(cafile=tenant.ca_file)
    http = httpx.AsyncClient(base_url=tenant.graph, verify=trust, trust_env=False)
    http = GraphClientFactory.create_with_default_middleware(client=http)
    auth = BaseBearerTokenAuthenticationProvider(MsalTokenProvider(tenant, "app-all"))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = tenant.graph
    return GraphServiceClient(request_adapter=adapter)


def page_size(size: int) -> RequestConfiguration[Any]:
    config: RequestConfiguration[Any] = RequestConfiguration()
    config.headers.add("Prefer", f"odata.maxpagesize={size}")
    return config


async def message_delta(
    client: GraphServiceClient, email: str, link: str | None
) -> tuple[list[Message], str]:
    """Every change since `link` (None: a first sync), paging 5 at a time: (changes, deltaLink)."""
    builder = client.users.by_user_id(email).mail_folders.by_mail_folder_id("inbox").messages.delta
    changes: list[Message] = []
    while True:
        request = builder.with_url(link) if link else builder
        page = await request.get(request_configuration=page_size(5))
        assert page is not None
        changes += page.value or []
        if page.odata_delta_link:
            return changes, page.odata_delta_link
        link = page.odata_next_link


def test_sdk_message_delta_round_trip(tenant: Tenant, new_mailbox: Callable[[], str]) -> None:
    email = new_mailbox()
    ids = tenant.control.seed(email, "messages", 12)

    async def scenario() -> None:
        client = make_client(tenant)
        changes, delta = await message_delta(client, email, None)
        assert sorted(m.subject or "" for m in changes) == sorted(
            f"Seeded message {n}" for n in range(12)
        )
        tenant.control.update_item(ids[3], {"Subject": "Renamed in Outlook"})
        tenant.control.delete_item(ids[4], mode="hard")
        draft = Message(
            subject="Created with the SDK",
            body=ItemBody(content_type=BodyType.Text, content="Hello"),
            to_recipients=[Recipient(email_address=EmailAddress(address=email))],
        )
        created = (
            await client.users.by_user_id(email)
            .mail_folders.by_mail_folder_id("inbox")
            .messages.post(draft)
        )
        assert created is not None and created.id
        changes, delta = await message_delta(client, email, delta)
        subjects = sorted(m.subject or "" for m in changes if m.subject)
        assert subjects == ["Created with the SDK", "Renamed in Outlook"]
        removed = [m for m in changes if "@removed" in (m.additional_data or {})]
        assert len(removed) == 1
        fetched = await client.users.by_user_id(email).messages.by_message_id(created.id).get()
        assert fetched is not None and fetched.body is not None
        assert fetched.body.content == "Hello"

    asyncio.run(scenario())
