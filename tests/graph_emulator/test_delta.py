"""messages/delta over the store both protocols write: EWS changes appear in the Graph delta,
Graph changes in EWS, with stable immutable ids and extended properties intact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from exchangelib import Account, ExtendedProperty, Message

from .conftest import Tenant
from .test_mail import IMMUTABLE, PROP, error_of, ok, url

pytestmark = pytest.mark.e2e


class CrmTracking(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "CrmTracking"
    property_type = "String"


def sync(
    graph: requests.Session, link: str, page: int | None = None, prefer: str = ""
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (changes, deltaLink, pages)."""
    preferences = [p for p in (prefer, f"odata.maxpagesize={page}" if page else "") if p]
    headers = {"Prefer": ", ".join(preferences)} if preferences else {}
    changes, pages = [], 0
    while True:
        answer = ok(graph.get(link, headers=headers))
        pages += 1
        changes += answer["value"]
        if "@odata.deltaLink" in answer:
            return changes, answer["@odata.deltaLink"], pages
        link = answer["@odata.nextLink"]


def test_delta_pages_updates_and_removals(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    ids = tenant.control.seed(email, "messages", 25)
    start = url(tenant, email, "mailFolders/inbox/messages/delta?$select=subject,isRead")
    changes, delta, pages = sync(graph, start, page=10)
    assert pages == 3 and len(changes) == 25
    assert set(changes[0]) == {"@odata.type", "@odata.etag", "id", "subject", "isRead"}
    again, delta, _ = sync(graph, delta)
    assert again == []
    tenant.control.update_item(ids[0], {"IsRead": True})
    tenant.control.delete_item(ids[1], mode="hard")
    tenant.control.move_item(ids[2], "deleteditems")
    changes, delta, _ = sync(graph, delta)
    removed = {c["id"] for c in changes if "@removed" in c}
    updated = [c for c in changes if "@removed" not in c]
    assert len(removed) == 2
    assert all(c["@removed"] == {"reason": "deleted"} for c in changes if "@removed" in c)
    assert [(u["subject"], u["isRead"]) for u in updated] == [("Seeded message 0", True)]
    assert "body" not in updated[0]  # the $select of the first request is kept in the token


def test_lost_or_forged_delta_token_is_410(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    _, delta, _ = sync(graph, url(tenant, email, "mailFolders/inbox/messages/delta"))
    forged = delta[:-6] + ("AAAAAA" if not delta.endswith("AAAAAA") else "BBBBBB")
    assert error_of(graph.get(forged)) == (410, "SyncStateNotFound")
    other_folder = delta.replace("mailFolders/inbox", "mailFolders/drafts")
    assert error_of(graph.get(other_folder)) == (410, "SyncStateNotFound")


def test_ews_changes_reach_the_graph_delta_with_immutable_ids(
    tenant: Tenant,
    graph: requests.Session,
    new_mailbox: Callable[[], str],
    ews_account: Callable[[str], Account],
) -> None:
    email = new_mailbox()
    account = ews_account(email)
    message = Message(account=account, folder=account.inbox, subject="From EWS")
    message.crm_tracking = "EWS-1"
    message.save()
    start = url(tenant, email, "mailFolders/inbox/messages/delta")
    changes, delta, _ = sync(graph, start, prefer=IMMUTABLE["Prefer"])
    assert [c["subject"] for c in changes] == ["From EWS"]
    immutable = changes[0]["id"]
    props = ok(
        graph.get(
            url(tenant, email, f"messages/{immutable}"),
            params={"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"},
        )
    )
    assert props["singleValueExtendedProperties"] == [{"id": PROP, "value": "EWS-1"}]
    message.subject = "Edited in EWS"
    message.save(update_fields=["subject"])
    changes, delta, _ = sync(graph, delta, prefer=IMMUTABLE["Prefer"])
    assert [(c["id"], c["subject"]) for c in changes] == [(immutable, "Edited in EWS")]
    old_ews_id = message.id
    message.move(account.junk)  # EWS gives it a new id; the immutable id stays
    assert message.id != old_ews_id
    changes, delta, _ = sync(graph, delta, prefer=IMMUTABLE["Prefer"])
    assert changes == [
        {
            "@odata.type": "#microsoft.graph.message",
            "id": immutable,
            "@removed": {"reason": "deleted"},
        }
    ]
    junk, _, _ = sync(
        graph,
        url(tenant, email, "mailFolders/junkemail/messages/delta"),
        prefer=IMMUTABLE["Prefer"],
    )
    assert [(c["id"], c["subject"]) for c in junk] == [(immutable, "Edited in EWS")]
    fetched = ok(
        graph.get(
            url(tenant, email, f"messages/{immutable}"),
            params={"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"},
        )
    )
    assert fetched["singleValueExtendedProperties"] == [{"id": PROP, "value": "EWS-1"}]


def test_graph_changes_reach_ews(
    tenant: Tenant,
    graph: requests.Session,
    new_mailbox: Callable[[], str],
    ews_account: Callable[[str], Account],
) -> None:
    email = new_mailbox()
    created = ok(
        graph.post(
            url(tenant, email, "mailFolders/inbox/messages"),
            json={
                "subject": "From Graph",
                "singleValueExtendedProperties": [{"id": PROP, "value": "G-1"}],
            },
        ),
        201,
    )
    account = ews_account(email)
    [item] = list(account.inbox.all())
    assert item.subject == "From Graph"
    assert item.crm_tracking == "G-1"
    ok(
        graph.patch(
            url(tenant, email, f"messages/{created['id']}"),
            json={"singleValueExtendedProperties": [{"id": PROP, "value": "G-2"}]},
        )
    )
    item.refresh()
    assert item.crm_tracking == "G-2"
    assert item.id.replace("/", "-").replace("+", "_") == created["id"]


@pytest.fixture(autouse=True)
def _register_property() -> Any:
    Message.register("crm_tracking", CrmTracking)
    yield
    Message.deregister("crm_tracking")
