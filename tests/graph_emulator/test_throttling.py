"""$batch, throttling as Graph does it (429 + Retry-After), fault injection and counters."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from .conftest import Tenant
from .test_mail import error_of, ok, url

pytestmark = pytest.mark.e2e


@pytest.fixture
def limits(tenant: Tenant) -> Iterator[None]:
    yield
    tenant.control.set_graph_limits(concurrency=4, rate=10_000, window_s=600)


def test_batch_runs_up_to_20_requests_with_dependencies(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    answer = ok(
        graph.post(
            f"{tenant.graph}/$batch",
            json={
                "requests": [
                    {
                        "id": "1",
                        "method": "POST",
                        "url": f"/users/{email}/messages",
                        "headers": {"Content-Type": "application/json"},
                        "body": {"subject": "Batched"},
                    },
                    {
                        "id": "2",
                        "method": "GET",
                        "url": f"/users/{email}/mailFolders/drafts",
                        "dependsOn": ["1"],
                    },
                    {
                        "id": "3",
                        "method": "GET",
                        "url": f"/users/{email}/messages/AAMkAGI2TG93AAA=",
                    },
                    {
                        "id": "4",
                        "method": "GET",
                        "url": f"/users/{email}/mailFolders",
                        "dependsOn": ["3"],
                    },
                ]
            },
        )
    )
    by_id = {r["id"]: r for r in answer["responses"]}
    assert by_id["1"]["status"] == 201 and by_id["1"]["body"]["subject"] == "Batched"
    assert by_id["2"]["status"] == 200 and by_id["2"]["body"]["totalItemCount"] == 1
    assert (by_id["3"]["status"], by_id["3"]["body"]["error"]["code"]) == (404, "ErrorItemNotFound")
    assert by_id["4"]["status"] == 424
    too_many = [
        {"id": str(n), "method": "GET", "url": f"/users/{email}/mailFolders"} for n in range(21)
    ]
    assert error_of(graph.post(f"{tenant.graph}/$batch", json={"requests": too_many})) == (
        400,
        "BadRequest",
    )


def test_more_than_four_concurrent_requests_per_mailbox_get_429(
    tenant: Tenant, graph_token: str, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    tenant.control.graph_counters(reset=True)
    tenant.control.inject_graph_fault("graph_delay", mailbox=email, count=6, delay_ms=1500)

    def call() -> requests.Response:
        session = tenant.session()
        session.headers["Authorization"] = f"Bearer {graph_token}"
        return session.get(url(tenant, email, "mailFolders/inbox"), timeout=30)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: call(), range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 4, statuses
    throttled = [a for a in answers if a.status_code == 429]
    assert len(throttled) == 2
    assert throttled[0].json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in throttled[0].json()["error"]["message"]
    assert int(throttled[0].headers["Retry-After"]) >= 1
    counters = tenant.control.graph_counters()
    assert counters["concurrency_high_water"][email] == 4
    assert counters["requests"][email] == 6
    assert counters["throttled"][email] == 2
    tenant.control.clear_faults()


def test_a_batch_runs_four_requests_at_once_each_counting_against_the_mailbox(
    tenant: Tenant, graph: requests.Session, graph_token: str, new_mailbox: Callable[[], str]
) -> None:
    # Graph hands four requests of a batch to the mailbox at once: eight requests that take
    # 0.6 s each answer in two rounds, and a fifth request beside them is one too many.
    email = new_mailbox()
    tenant.control.graph_counters(reset=True)
    tenant.control.inject_graph_fault("graph_delay", mailbox=email, count=9, delay_ms=600)
    batch = {
        "requests": [
            {"id": str(n), "method": "GET", "url": f"/users/{email}/mailFolders/inbox"}
            for n in range(8)
        ]
    }

    def beside() -> requests.Response:
        time.sleep(0.3)  # while the batch's first four run
        session = tenant.session()
        session.headers["Authorization"] = f"Bearer {graph_token}"
        return session.get(url(tenant, email, "mailFolders/inbox"), timeout=30)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        other = pool.submit(beside)
        answers = ok(graph.post(f"{tenant.graph}/$batch", json=batch))["responses"]
        elapsed = time.monotonic() - started
    assert [a["id"] for a in answers] == [str(n) for n in range(8)]
    assert 1.1 < elapsed < 4.0, elapsed  # two rounds of four, not eight in a row (4.8 s)
    # One of the nine was a fifth at once: the request beside, or one of the batch's if the
    # one beside came first.
    statuses = [a["status"] for a in answers] + [other.result().status_code]
    assert sorted(statuses) == [200] * 8 + [429], statuses
    counters = tenant.control.graph_counters()
    assert counters["concurrency_high_water"][email] == 4
    assert counters["throttled"][email] == 1
    tenant.control.clear_faults()


def test_request_budget_per_mailbox(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str], limits: None
) -> None:
    email = new_mailbox()
    tenant.control.set_graph_limits(rate=3, window_s=60)
    for _ in range(3):
        ok(graph.get(url(tenant, email, "mailFolders/inbox")))
    over = graph.get(url(tenant, email, "mailFolders/inbox"))
    assert error_of(over) == (429, "ApplicationThrottled")
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    other = new_mailbox()  # the budget is per mailbox
    ok(graph.get(url(tenant, other, "mailFolders/inbox")))


def test_injected_faults(
    tenant: Tenant, graph: requests.Session, new_mailbox: Callable[[], str]
) -> None:
    email = new_mailbox()
    first = ok(graph.get(url(tenant, email, "mailFolders/inbox/messages/delta")))
    delta = first["@odata.deltaLink"]
    tenant.control.inject_graph_fault("graph_429", mailbox=email, retry_after=7)
    answer = graph.get(url(tenant, email, "mailFolders"))
    assert error_of(answer) == (429, "TooManyRequests") and answer.headers["Retry-After"] == "7"
    tenant.control.inject_graph_fault("graph_503", mailbox=email)
    assert error_of(graph.get(url(tenant, email, "mailFolders"))) == (503, "ServiceNotAvailable")
    tenant.control.inject_graph_fault("graph_410", path="messages/delta", mailbox=email)
    ok(graph.get(url(tenant, email, "mailFolders")))  # not a delta request: unaffected
    assert error_of(graph.get(delta)) == (410, "SyncStateNotFound")
    tenant.control.inject_graph_fault("graph_401", mailbox=email)
    assert error_of(graph.get(url(tenant, email, "mailFolders"))) == (
        401,
        "InvalidAuthenticationToken",
    )
    ok(graph.get(delta))  # each fault was used up
