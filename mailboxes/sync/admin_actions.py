"""Admin actions as plain functions (the admin wires them up): each takes the admin's
request and a queryset, enqueues work or applies a decision, and never talks to a server
inside the request."""

from __future__ import annotations

from typing import Any, Protocol

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest

from crmsync.words import count
from mailboxes.models import ExchangeSyncIdMapping, Mailbox
from mailboxes.sync import scheduling
from mailboxes.sync.conflicts import decide_conflicts
from profiles.models import EmailServerProfile


class _MailboxTask(Protocol):
    def delay(self, pk: int) -> object: ...


def _enqueue(queryset: QuerySet[Any], task: _MailboxTask, *, make_due: bool = False) -> int:
    """One task per row of the queryset; `make_due`: its mailboxes are due now."""
    ids = list(queryset.values_list("pk", flat=True))
    if make_due:
        scheduling.sync_now(ids)
    for pk in ids:
        task.delay(pk)
    return len(ids)


def test_and_enable_mailboxes(request: HttpRequest, queryset: QuerySet[Mailbox]) -> int:
    from mailboxes.tasks import test_and_enable_mailbox

    queued = _enqueue(queryset, test_and_enable_mailbox)
    messages.info(request, f"Test & enable queued for {_mailboxes(queued)}.")
    return queued


def test_profiles(request: HttpRequest, queryset: QuerySet[EmailServerProfile]) -> int:
    from mailboxes.tasks import test_profile

    queued = _enqueue(queryset, test_profile)
    profiles = count(queued, "profile")
    messages.info(request, f"Test & enable queued for the mailboxes of {profiles}.")
    return queued


def sync_now(request: HttpRequest, queryset: QuerySet[Mailbox]) -> int:
    """Lift postponements, make due and enqueue; failed channels wait for test & enable."""
    from mailboxes.tasks import sync_mailbox

    queued = _enqueue(queryset, sync_mailbox, make_due=True)
    messages.info(request, f"Synchronization queued for {_mailboxes(queued)}.")
    return queued


def full_resync(request: HttpRequest, queryset: QuerySet[Mailbox]) -> int:
    from mailboxes.tasks import full_resync_mailbox

    queued = _enqueue(queryset, full_resync_mailbox, make_due=True)
    messages.info(request, f"Full resynchronization queued for {_mailboxes(queued)}.")
    return queued


def _decide(request: HttpRequest, queryset: QuerySet[ExchangeSyncIdMapping], decision: str) -> int:
    pending = queryset.filter(user_decision=ExchangeSyncIdMapping.UserDecision.PENDING)
    done, errors = decide_conflicts(pending, decision)
    messages.info(request, f"Decision applied to {done} conflict(s).")
    for error in errors:
        messages.error(request, f"Not settled: {error}")
    return done


def keep_crm_version(request: HttpRequest, queryset: QuerySet[ExchangeSyncIdMapping]) -> int:
    return _decide(request, queryset, ExchangeSyncIdMapping.UserDecision.KEEP_CRM)


def keep_exchange_version(request: HttpRequest, queryset: QuerySet[ExchangeSyncIdMapping]) -> int:
    return _decide(request, queryset, ExchangeSyncIdMapping.UserDecision.KEEP_EXCHANGE)


ACTIONS: dict[str, Any] = {
    "test_and_enable_mailboxes": test_and_enable_mailboxes,
    "test_profiles": test_profiles,
    "sync_now": sync_now,
    "full_resync": full_resync,
    "keep_crm_version": keep_crm_version,
    "keep_exchange_version": keep_exchange_version,
}


def _mailboxes(number: int) -> str:
    return count(number, "mailbox", "mailboxes")
