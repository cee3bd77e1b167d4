"""Graph contacts and Microsoft To Do over the items EWS sees in Contacts and Tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from exchangelib import Account

from .conftest import Tenant
from .test_delta import sync
from .test_mail import PROP, error_of, ok, url

pytestmark = pytest.mark.e2e


def test_contact_crud_and_ews_view(
    tenant: Tenant,
    graph: requests.Session,
    new_mailbox: Callable[[], str],
    ews_account: Callable[[str], Account],
) -> None:
    email = new_mailbox()
    created = ok(
        graph.post(
            url(tenant, email, "contacts"),
            json={
                "givenName": "Ada",
                "surname": "Lovelace",
                "companyName": "Analytical Engines",
                "emailAddresses": [{"address": "ada@example.org", "name": "Ada"}],
                "businessPhones": ["+44 20 0000 0001"],
                "businessAddress": {"city": "London", "countryOrRegion": "UK"},
            },
        ),
        201,
    )
    assert created["displayName"] == "Ada Lovelace"
    [contact] = list(ews_account(email).contacts.all())
    assert (contact.given_name, contact.surname) == ("Ada", "Lovelace")
    assert [e.email for e in contact.email_addresses] == ["ada@example.org"]
    updated = ok(
        graph.patch(url(tenant, email, f"contacts/{created['id']}"), json={"jobTitle": "Analyst"})
    )
    assert updated["jobTitle"] == "Analyst"
    assert updated["businessAddress"]["city"] == "London"
    ok(graph.delete(url(tenant, email, f"contacts/{created['id']}")), 204)
    assert ok(graph.get(url(tenant, email, "contacts")))["value"] == []
    assert [i["kind"] for i in tenant.control.items(email, "deleteditems")] == ["Contact"]
    missing = graph.get(url(tenant, email, "contacts/AAMkAGI2TG93AAA="))
    assert error_of(missing) == (404, "ErrorItemNotFound")


def test_contacts_delta_sees_outlook_edits(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    ids = tenant.control.seed(email, "contacts", 7)
    changes, delta, pages = sync(graph, url(tenant, email, "contacts/delta"), page=3)
    assert (len(changes), pages) == (7, 3)
    tenant.control.update_item(ids[0], {"JobTitle": "Buyer"})
    tenant.control.delete_item(ids[1], mode="hard")
    changes, delta, _ = sync(graph, delta)
    assert [c.get("jobTitle") for c in changes if "@removed" not in c] == ["Buyer"]
    assert sum("@removed" in c for c in changes) == 1
    folders = ok(graph.get(url(tenant, email, "contactFolders")))["value"]
    assert folders == []  # the folders in Contacts, not Contacts itself


def test_todo_lists_and_tasks_are_the_ews_tasks(
    tenant: Tenant,
    graph: requests.Session,
    new_mailbox: Callable[[], str],
    ews_account: Callable[[str], Account],
) -> None:
    email = new_mailbox()
    lists = ok(graph.get(url(tenant, email, "todo/lists")))["value"]
    [default] = [entry for entry in lists if entry["wellknownListName"] == "defaultList"]
    tenant.control.seed(email, "tasks", 2)
    changes, delta, _ = sync(graph, url(tenant, email, f"todo/lists/{default['id']}/tasks/delta"))
    assert sorted(c["title"] for c in changes) == ["Seeded task 0", "Seeded task 1"]
    task = ok(
        graph.post(
            url(tenant, email, f"todo/lists/{default['id']}/tasks"),
            json={
                "title": "Call back",
                "dueDateTime": {
                    "dateTime": "2030-05-01T09:00:00",
                    "timeZone": "W. Europe Standard Time",
                },
            },
        ),
        201,
    )
    assert task["status"] == "notStarted"
    assert task["dueDateTime"]["dateTime"].startswith("2030-05-01T07:00:00")  # stored in UTC
    done = ok(
        graph.patch(
            url(tenant, email, f"todo/lists/{default['id']}/tasks/{task['id']}"),
            json={"status": "completed"},
        )
    )
    assert done["status"] == "completed" and done["completedDateTime"] is not None
    ews_tasks = {t.subject: t.status for t in ews_account(email).tasks.all()}
    assert ews_tasks["Call back"] == "Completed"
    changes, delta, _ = sync(graph, delta)
    assert [c["title"] for c in changes] == ["Call back"]
    no_title = graph.post(url(tenant, email, f"todo/lists/{default['id']}/tasks"), json={})
    assert error_of(no_title) == (400, "invalidRequest")


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("contacts", {"givenName": "Tracked", "surname": "Contact"}),
        (
            "events",
            {
                "subject": "Tracked",
                "start": {"dateTime": "2030-01-02T10:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2030-01-02T11:00:00", "timeZone": "UTC"},
            },
        ),
    ],
)
def test_extended_properties_on_contacts_and_events(
    tenant: Tenant,
    graph: requests.Session,
    new_mailbox: Callable[[], str],
    path: str,
    payload: dict[str, Any],
) -> None:
    email = new_mailbox()
    ok(graph.post(url(tenant, email, path), json=payload), 201)  # one without the property
    prop = [{"id": PROP, "value": "CRM-9"}]
    created = ok(
        graph.post(
            url(tenant, email, path), json=payload | {"singleValueExtendedProperties": prop}
        ),
        201,
    )
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"}
    fetched = ok(graph.get(url(tenant, email, f"{path}/{created['id']}"), params=expand))
    assert fetched["singleValueExtendedProperties"] == prop
    query = "singleValueExtendedProperties/any(ep: ep/id eq '" + PROP + "' and ep/value eq 'CRM-9')"
    found = ok(graph.get(url(tenant, email, path), params={"$filter": query}))["value"]
    assert [item["id"] for item in found] == [created["id"]]
    ok(
        graph.patch(
            url(tenant, email, f"{path}/{created['id']}"),
            json={"singleValueExtendedProperties": [{"id": PROP, "value": "CRM-10"}]},
        )
    )
    fetched = ok(graph.get(url(tenant, email, f"{path}/{created['id']}"), params=expand))
    assert fetched["singleValueExtendedProperties"] == [{"id": PROP, "value": "CRM-10"}]


def test_a_todo_task_has_open_extensions_and_no_extended_properties(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    """Graph v1.0's todoTask keeps custom data in open extensions only (the Outlook extended
    properties overview does not list it): extended properties are refused as a property
    the type does not have, in a body, an $expand or a $filter."""
    email = new_mailbox()
    tasks = "todo/lists/tasks/tasks"
    prop = [{"id": PROP, "value": "CRM-9"}]
    refused = graph.post(
        url(tenant, email, tasks), json={"title": "T", "singleValueExtendedProperties": prop}
    )
    assert error_of(refused) == (400, "RequestBodyRead")
    assert "microsoft.graph.todoTask" in refused.json()["error"]["message"]
    ext = {
        "@odata.type": "microsoft.graph.openTypeExtension",
        "extensionName": "com.example.crm",
        "recordId": "9",
    }
    created = ok(
        graph.post(url(tenant, email, tasks), json={"title": "T", "extensions": [ext]}), 201
    )
    assert [e["recordId"] for e in created["extensions"]] == ["9"]
    plain = ok(graph.post(url(tenant, email, tasks), json={"title": "Plain"}), 201)
    expand = {"$expand": "extensions($filter=id eq 'com.example.crm')"}
    task = ok(graph.get(url(tenant, email, f"{tasks}/{created['id']}"), params=expand))
    assert task["extensions"] == [
        {
            "@odata.type": "#microsoft.graph.openTypeExtension",
            "id": "microsoft.graph.openTypeExtension.com.example.crm",
            "extensionName": "com.example.crm",
            "recordId": "9",
        }
    ]
    listed = ok(graph.get(url(tenant, email, tasks), params=expand))["value"]
    assert {t["title"]: len(t["extensions"]) for t in listed} == {"T": 1, "Plain": 0}
    for params in (
        {"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"},
        {"$filter": f"singleValueExtendedProperties/any(ep: ep/id eq '{PROP}' and ep/value eq '')"},
    ):
        answer = graph.get(url(tenant, email, tasks), params=params)
        assert error_of(answer)[0] == 400, params
    patched = graph.patch(
        url(tenant, email, f"{tasks}/{plain['id']}"), json={"singleValueExtendedProperties": prop}
    )
    assert error_of(patched) == (400, "RequestBodyRead")
    # an existing task: create the extension, a second create conflicts, an update replaces
    path = f"{tasks}/{plain['id']}/extensions"
    ok(graph.post(url(tenant, email, path), json=ext | {"percent": 40}), 201)
    assert error_of(graph.post(url(tenant, email, path), json=ext))[0] == 409
    updated = ok(graph.patch(url(tenant, email, f"{path}/com.example.crm"), json=ext))
    assert "percent" not in updated and updated["recordId"] == "9"  # unsent data is deleted
    fqn = "microsoft.graph.openTypeExtension.com.example.crm"
    assert ok(graph.get(url(tenant, email, f"{path}/{fqn}")))["recordId"] == "9"
    ok(graph.delete(url(tenant, email, f"{path}/com.example.crm")), 204)
    assert error_of(graph.get(url(tenant, email, f"{path}/com.example.crm")))[0] == 404


FAX = "String 0x3A24"  # PidTagBusinessFaxNumber
PAGER = "String 0x3A21"  # PidTagPagerTelephoneNumber


def test_phones_graph_has_no_property_for_are_their_mapi_properties(
    tenant: Tenant,
    graph: requests.Session,
    new_mailbox: Callable[[], str],
    ews_account: Callable[[str], Account],
) -> None:
    """A business fax or a pager is read and written through Graph as the extended property
    of its MAPI tag, and is the phone number EWS shows (the same property)."""
    email = new_mailbox()
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{FAX}' or id eq '{PAGER}')"}
    created = ok(
        graph.post(
            url(tenant, email, "contacts"),
            json={
                "givenName": "Ada",
                "singleValueExtendedProperties": [
                    {"id": FAX, "value": "+44 20 0000 0009"},
                    {"id": PAGER, "value": "555 0100"},
                ],
            },
        ),
        201,
    )
    [contact] = list(ews_account(email).contacts.all())
    by_label = {p.label: p.phone_number for p in contact.phone_numbers or []}
    assert by_label == {"BusinessFax": "+44 20 0000 0009", "Pager": "555 0100"}

    contact.phone_numbers = [
        *(p for p in contact.phone_numbers if p.label != "Pager"),
        type(contact.phone_numbers[0])(label="Pager", phone_number="555 0199"),
    ]
    contact.save(update_fields=["phone_numbers"])
    read = ok(graph.get(url(tenant, email, f"contacts/{created['id']}"), params=expand))
    props = {p["id"].lower(): p["value"] for p in read["singleValueExtendedProperties"]}
    assert props == {FAX.lower(): "+44 20 0000 0009", PAGER.lower(): "555 0199"}

    ok(
        graph.patch(
            url(tenant, email, f"contacts/{created['id']}"),
            json={"singleValueExtendedProperties": [{"id": FAX, "value": ""}]},
        )
    )
    read = ok(graph.get(url(tenant, email, f"contacts/{created['id']}"), params=expand))
    assert [p["id"].lower() for p in read["singleValueExtendedProperties"]] == [PAGER.lower()]


def test_contact_folders_nest_at_any_depth(
    tenant: Tenant,
    graph: requests.Session,
    new_mailbox: Callable[[], str],
    ews_account: Callable[[str], Account],
) -> None:
    """Create child folder (POST contactFolders/{id}/childFolders), or POST contactFolders
    with a parentFolderId; list, read and delete them as Graph documents."""
    email = new_mailbox()
    top = ok(
        graph.post(url(tenant, email, "contactFolders"), json={"displayName": "Partners"}), 201
    )
    child = ok(
        graph.post(
            url(tenant, email, f"contactFolders/{top['id']}/childFolders"),
            json={"displayName": "Europe"},
        ),
        201,
    )
    assert child["parentFolderId"] == top["id"]
    grandchild = ok(
        graph.post(
            url(tenant, email, "contactFolders"),
            json={"displayName": "Germany", "parentFolderId": child["id"]},
        ),
        201,
    )
    again = graph.post(
        url(tenant, email, f"contactFolders/{top['id']}/childFolders"),
        json={"displayName": "europe"},
    )
    assert error_of(again) == (409, "ErrorFolderExists")
    listed = ok(graph.get(url(tenant, email, f"contactFolders/{child['id']}/childFolders")))
    assert [f["displayName"] for f in listed["value"]] == ["Germany"]
    ok(
        graph.post(
            url(tenant, email, f"contactFolders/{grandchild['id']}/contacts"),
            json={"givenName": "Deep", "surname": "Contact"},
        ),
        201,
    )
    changes, _, _ = sync(
        graph, url(tenant, email, f"contactFolders/{grandchild['id']}/contacts/delta")
    )
    assert [c["surname"] for c in changes] == ["Contact"]
    names = {f.name for f in ews_account(email).contacts.walk()}
    assert {"Partners", "Europe", "Germany"} <= names
    # the documented paths through the chain of child folders
    chain = f"contactFolders/{top['id']}/childFolders/{child['id']}/childFolders/{grandchild['id']}"
    assert ok(graph.get(url(tenant, email, chain)))["displayName"] == "Germany"
    deep = ok(graph.get(url(tenant, email, f"{chain}/contacts")))["value"]
    assert [c["surname"] for c in deep] == ["Contact"]
    wrong = f"contactFolders/{grandchild['id']}/childFolders/{top['id']}/contacts"
    assert error_of(graph.get(url(tenant, email, wrong)))[0] == 404  # not its child
    ok(graph.delete(url(tenant, email, f"contactFolders/{grandchild['id']}")), 204)
    assert (
        ok(graph.get(url(tenant, email, f"contactFolders/{child['id']}/childFolders")))["value"]
        == []
    )
    path = f"contactFolders/{top['id']}/childFolders/{child['id']}/permanentDelete"
    ok(graph.post(url(tenant, email, path)), 204)
    gone = graph.get(url(tenant, email, f"contactFolders/{child['id']}"))
    assert error_of(gone)[0] == 404
    assert ok(graph.get(url(tenant, email, "contactFolders")))["value"][0]["id"] == top["id"]
    # the default Contacts folder cannot be deleted ("other than the default contactFolder")
    refused = graph.delete(url(tenant, email, "contactFolders/contacts"))
    assert error_of(refused)[1] == "ErrorDeleteDistinguishedFolder", refused.text


def test_listing_ids_with_expanded_properties(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    """`$select=id` with an `$expand` (a client listing what a delta leaves out) answers each
    item's etag and id, as the whole resource has them, with the expansion."""
    email = new_mailbox()
    tenant.control.seed(email, "contacts", 3)
    second = ok(graph.get(url(tenant, email, "contacts")))["value"][1]["id"]
    ok(
        graph.patch(
            url(tenant, email, f"contacts/{second}"),
            json={"singleValueExtendedProperties": [{"id": PROP, "value": "CRM-1"}]},
        )
    )
    whole = ok(graph.get(url(tenant, email, "contacts")))["value"]
    expand = f"singleValueExtendedProperties($filter=id eq '{PROP}')"
    listed = ok(
        graph.get(url(tenant, email, "contacts"), params={"$select": "id", "$expand": expand})
    )["value"]
    assert [(c["@odata.etag"], c["id"]) for c in whole] == [
        (c["@odata.etag"], c["id"]) for c in listed
    ]
    assert [sorted(c) for c in listed] == [
        ["@odata.etag", "id"],
        ["@odata.etag", "id", "singleValueExtendedProperties"],
        ["@odata.etag", "id"],
    ]
    lists = ok(graph.get(url(tenant, email, "todo/lists")))["value"]
    default = next(e["id"] for e in lists if e["wellknownListName"] == "defaultList")
    tenant.control.seed(email, "tasks", 2)
    tasks = url(tenant, email, f"todo/lists/{default}/tasks")
    whole = ok(graph.get(tasks))["value"]
    listed = ok(graph.get(tasks, params={"$select": "id", "$expand": "extensions"}))["value"]
    assert [{"@odata.etag": t["@odata.etag"], "id": t["id"], "extensions": []} for t in whole] == (
        listed
    )
