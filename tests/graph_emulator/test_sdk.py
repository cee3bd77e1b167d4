"""Microsoft's msgraph-sdk against the emulator: delta round trips as an SDK user writes them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import ssl
from collections.abc import Callable, Coroutine
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


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """asyncio.run in a thread of its own: other tests (the browser's) may leave an event
    loop running in the main thread, where asyncio.run refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(scenario())).result()


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

    run(scenario)


async def follow(
    builder: Any, config: RequestConfiguration[Any], link: str | None
) -> tuple[list[Any], str]:
    """Every page of a delta request builder from `link` (None: a first sync)."""
    changes: list[Any] = []
    while True:
        request = builder.with_url(link) if link else builder
        page = await request.get(request_configuration=config if not link else page_size(5))
        assert page is not None
        changes += page.value or []
        if page.odata_delta_link:
            return changes, page.odata_delta_link
        link = page.odata_next_link


def test_sdk_contacts_delta_round_trip(tenant: Tenant, new_mailbox: Callable[[], str]) -> None:
    from msgraph.generated.models.contact import Contact

    email = new_mailbox()
    ids = tenant.control.seed(email, "contacts", 8)

    async def scenario() -> None:
        client = make_client(tenant)
        builder = client.users.by_user_id(email).contacts.delta
        changes, delta = await follow(builder, page_size(5), None)
        assert sorted(c.surname or "" for c in changes) == sorted(f"Last{n}" for n in range(8))
        tenant.control.update_item(ids[0], {"CompanyName": "Renamed Ltd"})
        created = await client.users.by_user_id(email).contacts.post(
            Contact(given_name="Grace", surname="Hopper")
        )
        assert created is not None and created.display_name == "Grace Hopper"
        changes, delta = await follow(builder, page_size(5), delta)
        assert sorted(c.company_name or c.surname or "" for c in changes) == [
            "Hopper",
            "Renamed Ltd",
        ]

    run(scenario)


def test_sdk_calendar_view_delta_round_trip(tenant: Tenant, new_mailbox: Callable[[], str]) -> None:
    from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import (
        DeltaRequestBuilder,
    )

    email = new_mailbox()
    ids = tenant.control.seed(email, "calendar", 6)  # hourly from tomorrow

    async def scenario() -> None:
        client = make_client(tenant)
        builder = client.users.by_user_id(email).calendar_view.delta
        start = dt.datetime.now(dt.UTC).replace(microsecond=0)
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end_date_time=(start + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        config = page_size(4)
        config.query_parameters = query
        changes, delta = await follow(builder, config, None)
        assert sorted(e.subject or "" for e in changes) == sorted(
            f"Seeded appointment {n}" for n in range(6)
        )
        tenant.control.update_item(ids[2], {"Subject": "Moved by Outlook"})
        tenant.control.delete_item(ids[3], mode="hard")
        changes, delta = await follow(builder, config, delta)
        assert [e.subject for e in changes if e.subject] == ["Moved by Outlook"]
        assert sum("@removed" in (e.additional_data or {}) for e in changes) == 1

    run(scenario)
