"""The marks (CRM record ids written on Graph items after the pull, `mailboxes/sync/stamps.py`)
within the mailbox's request budget of 10 minutes whatever runs its cycles, a mark the item
refuses given up after a few attempts, and a throttled mark in a `$batch` postponing only
itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import Contact
from mailboxes.connectors import ErrorKind, TransientSyncError
from mailboxes.connectors.graph import limits
from mailboxes.models import Alert, ExchangeSyncIdMapping, Mailbox
from mailboxes.status_words import status_of
from mailboxes.sync.stamps import DEFERRED, GAVE_UP, MAX_ATTEMPTS, PROGRESS_LABEL
from tests.conftest import M365
from tests.graph_act.helpers import graph_mailbox
from tests.graph_act.test_stamps import immutable, marks, pending, requests_of
from tests.sync.helpers import sync

pytestmark = pytest.mark.django_db


def open_alerts(mailbox: Mailbox, code: str) -> Any:
    return Alert.objects.filter(mailbox=mailbox, code=code, acknowledged_at__isnull=True)


def test_chained_cycles_defer_the_marks_at_the_mailboxs_10_minute_budget(
    m365: M365, settings: Any
) -> None:
    # given a mailbox whose first sync leaves 160 marks, and a budget of 200 requests per
    # 10 minutes (Microsoft's is 10,000), of which the marks may spend three quarters
    settings.CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES = 200
    settings.CRMSYNC_GRAPH_STAMPS_PER_CYCLE = 70
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    seeded = control.seed(address, "contacts", 160)
    labels: list[str] = []

    def progress(label: str, done: int, total: int | None) -> None:
        labels.append(label)

    # when cycles follow one another at once (as webhooks or "Sync now" can chain them)
    for _ in range(3):
        sync(mailbox, progress=progress)
    # then the marks stopped at their share of the window, and said so
    left = pending(mailbox).count()
    assert 0 < left < 160
    assert requests_of(m365, mailbox) <= 200
    assert any(label.startswith(f"{PROGRESS_LABEL} (the rest deferred to") for label in labels)
    alert = open_alerts(mailbox, DEFERRED).get()
    assert alert.severity == Alert.Severity.INFO
    assert f"The CRM record ids of {left} items" in alert.message
    assert "200 requests per mailbox in 10 minutes" in alert.message

    # and the user's changes are still pulled while the marks wait
    changed = seeded[-1]
    control.update_item(changed, {"JobTitle": "Head of Purchasing"})
    sync(mailbox)
    sync(mailbox)
    assert Contact.objects.filter(owner_user=mailbox.user, job_title="Head of Purchasing").exists()
    assert pending(mailbox).count() == left  # no mark written meanwhile
    assert requests_of(m365, mailbox) <= 200
    assert open_alerts(mailbox, DEFERRED).count() == 1  # one alert, kept up to date

    # when the window has room again (here: a larger budget), later cycles write the rest
    settings.CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES = 10_000
    sync(mailbox)
    assert pending(mailbox).count() == 0
    assert len(marks(m365, mailbox)) == 160
    assert not open_alerts(mailbox, DEFERRED).exists()  # acknowledged by the cycle
    assert Contact.objects.filter(owner_user=mailbox.user).count() == 160


def test_a_mark_the_item_refuses_is_given_up_after_a_few_attempts(
    m365: M365, admin_client: Client
) -> None:
    # given two contacts, the first refusing the extended property (a 400, not a throttle)
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    first, second = control.seed(address, "contacts", 2)
    control.inject_graph_fault("graph_400", path=immutable(first), mailbox=address, count=10)
    # when cycles try its mark
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = sync(mailbox)
        refused = ExchangeSyncIdMapping.objects.get(
            mailbox=mailbox, exchange_item_id=immutable(first)
        )
        assert refused.retries == attempt
        assert "ErrorInvalidRequest" in refused.last_error_text
        assert refused.stamp_pending == (attempt < MAX_ATTEMPTS)
    assert result.items_failed == 1
    # then it is given up: the mapping and its record stay, the mapping says why, and the
    # mailbox's alert says how many
    assert refused.last_error_code == GAVE_UP
    assert Contact.objects.filter(pk=refused.crm_object_id).exists()
    assert list(marks(m365, mailbox)) == [second]
    alert = open_alerts(mailbox, GAVE_UP).get()
    assert alert.severity == Alert.Severity.WARNING
    assert "record id on 1 items" in alert.message
    # the admin finds the mapping by the code the alert names
    changelist = admin_client.get(
        reverse("admin:mailboxes_exchangesyncidmapping_changelist"), {"q": GAVE_UP}
    )
    assert refused.item_subject and refused.item_subject in changelist.content.decode()
    assert "1 result" in changelist.content.decode()
    # and no cycle asks for it again: the next one is idle, a request per folder
    control.graph_counters(reset=True)
    assert sync(mailbox).items_failed == 0
    assert requests_of(m365, mailbox) == 3


def test_a_throttled_mark_in_a_batch_postpones_itself_and_keeps_the_others(
    m365: M365,
) -> None:
    # given three contacts, the mark of the first answered 429 inside the $batch
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    first, *others = control.seed(address, "contacts", 3)
    control.inject_graph_fault("graph_429", path=immutable(first), mailbox=address, retry_after=120)
    # when the cycle writes the marks
    before = timezone.now()
    result = sync(mailbox, allow_error=True)
    # then the two others are written and kept, the throttled one waits
    assert sorted(marks(m365, mailbox)) == sorted(others)
    assert [m.exchange_item_id for m in pending(mailbox)] == [immutable(first)]
    # and the mailbox is postponed by the Retry-After (no worker slept on it)
    assert isinstance(result.error, TransientSyncError)
    assert result.error.kind == ErrorKind.THROTTLED and result.error.retry_after == 120
    assert mailbox.next_due_at is not None
    assert mailbox.next_due_at >= before + dt.timedelta(seconds=120)
    assert ExchangeSyncIdMapping.objects.get(exchange_item_id=immutable(first)).retries == 0
    # when the next cycle runs, the throttled mark is written
    sync(mailbox)
    assert pending(mailbox).count() == 0
    assert sorted(marks(m365, mailbox)) == sorted([first, *others])


def test_a_lost_delta_link_while_marks_wait_relinks_by_id_without_duplicates(
    m365: M365, settings: Any
) -> None:
    # given a first sync whose marks mostly wait (here: one a cycle)
    settings.CRMSYNC_GRAPH_STAMPS_PER_CYCLE = 1
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    control.seed(address, "contacts", 4)
    sync(mailbox)
    assert pending(mailbox).count() == 3
    # when the contacts' delta link is lost (410) and the folder is read again from the start
    control.inject_graph_fault("graph_410", path="contacts/delta", mailbox=address)
    sync(mailbox)
    # then the unmarked items are found by their ids: nothing is duplicated
    assert Contact.objects.filter(owner_user=mailbox.user).count() == 4
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 4
    assert pending(mailbox).count() == 2  # and the marks go on, one a cycle


def test_a_spent_window_postpones_the_mailbox_without_counting_a_failure(
    m365: M365, settings: Any
) -> None:
    # given a mailbox whose 10 minutes of requests other cycles spent
    settings.CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES = 100
    settings.CRMSYNC_MAX_TRANSIENT_FAILURES = 2
    mailbox = graph_mailbox(m365)
    limits.slots().give_back(mailbox.email_address, "earlier-cycles", 0, cost=100)
    control = m365.tenant.control
    control.graph_counters(reset=True)
    # when cycles run (more than the failures that would stop it)
    for _ in range(3):
        result = sync(mailbox, allow_error=True)
        assert isinstance(result.error, TransientSyncError)
        assert result.error.code == "mailbox_request_budget"
    # then nothing was sent, and the mailbox waits for the window, neither failing nor failed
    assert requests_of(m365, mailbox) == 0
    assert mailbox.transient_failure_count == 0
    assert mailbox.act_status != Mailbox.ChannelStatus.FAILURE
    assert mailbox.next_due_at is not None
    assert mailbox.next_due_at > timezone.now() + dt.timedelta(minutes=9)
    status = status_of(mailbox)
    assert status.key == "postponed"
    assert "10 minutes" in status.reason
