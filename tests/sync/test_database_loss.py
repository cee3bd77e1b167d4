"""A worker's PostgreSQL connections killed under it (a restart, a failover,
`pg_terminate_backend`): the cycle records its failure and gives the mailbox back on a fresh
connection, and the claim keeper's thread renews on one, instead of dying with the old."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from ews_emulator.testing import EmulatorProcess
from mailboxes.connectors import ErrorKind
from mailboxes.models import Alert, Mailbox, SyncRun
from mailboxes.sync import scheduling
from mailboxes.sync.cycle import run_cycle
from mailboxes.sync.keeper import ClaimKeeper
from tests.sync.helpers import act_mailbox, emulated_mailbox, exchange_profile
from tests.waiting import eventually

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend"),
]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def terminate(pids: list[int] | None = None, *, sparing: int | None = None) -> int:
    """Kill the given backends, or every other one of the test database but `sparing`'s,
    from a connection of a thread of its own (this thread's own may be the one to kill)."""
    killed: list[int] = []

    def run() -> None:
        try:
            with connection.cursor() as cursor:
                if pids is None:
                    cursor.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        " AND pid <> %s",
                        [sparing or 0],
                    )
                else:
                    cursor.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE pid = ANY(%s)",
                        [pids],
                    )
                killed.append(int(cursor.fetchone()[0]))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return killed[0]


def test_a_cycle_whose_connection_is_killed_records_it_and_gives_the_mailbox_back(
    ews: EmulatorProcess, settings: Any
) -> None:
    # A short claim: the heartbeat after the page renews it outside any transaction, the
    # statement that meets the dead connection first.
    settings.CRMSYNC_CLAIM_SECONDS = 1
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "contacts", 1200)
    mine = backend_pid()
    killed: list[int] = []

    def progress(label: str, done: int, total: int | None) -> None:
        if not killed and done > 0:
            killed.append(terminate([mine]))
            time.sleep(0.5)

    result = run_cycle(mailbox.pk, respect_limit=False, progress=progress)

    assert killed == [1]
    assert result.ran and result.error is not None
    mailbox.refresh_from_db()
    assert mailbox.claimed_by == ""
    run = SyncRun.objects.filter(mailbox=mailbox).get()
    assert run.outcome == "transient", run.error_text
    # The database's failure, not a defect of crmsync: no staff alert, its own words.
    assert (mailbox.last_error_code, mailbox.last_error_kind) == (
        "database_unavailable",
        ErrorKind.DATABASE,
    ), run.error_text
    assert not Alert.objects.filter(mailbox=mailbox).exists()


def test_the_claim_keeper_renews_on_a_new_connection_after_its_own_is_killed(
    settings: Any,
) -> None:
    settings.CRMSYNC_CLAIM_SECONDS = 3  # renewed every second
    mailbox = act_mailbox(exchange_profile())
    claim = scheduling.claim_mailbox(mailbox.pk, respect_limit=False)
    assert claim is not None
    keeper = ClaimKeeper(claim, stall_seconds=60).start()
    try:
        eventually(lambda: keeper.renewals >= 1, "a first renewal", timeout=10)
        # Every connection to the test database but this one: the keeper thread's among them.
        assert terminate(sparing=backend_pid()) >= 1
        renewed = keeper.renewals
        eventually(lambda: keeper.renewals >= renewed + 2, "renewals after the kill", timeout=10)
    finally:
        keeper.stop()
    expires = Mailbox.objects.get(pk=mailbox.pk).claim_expires_at
    assert expires is not None


def test_a_cycle_keeps_its_healthy_connection_whatever_conn_max_age(
    ews: EmulatorProcess,
) -> None:
    # CONN_MAX_AGE 0 (SQLite's setting, or a deployment's): the connection is "obsolete" at
    # once, and Django's own end-of-request check would close it. A cycle only drops a
    # connection that failed: an idle cycle opens no new one (it reconnected on every cycle).
    mailbox = emulated_mailbox(ews)
    run_cycle(mailbox.pk, respect_limit=False)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=None)
    max_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 0
    connection.close()
    opened: list[object] = []

    def count(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(connection)

    try:
        connection.ensure_connection()
        connection_created.connect(count)
        result = run_cycle(mailbox.pk, respect_limit=False)
    finally:
        connection_created.disconnect(count)
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        connection.close()
    assert result.ran and result.error is None
    assert opened == []
