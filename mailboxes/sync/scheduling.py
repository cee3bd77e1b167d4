"""Which mailboxes are due, who holds each one, and when each runs next.

A mailbox is held through its claim columns (`claimed_by`, `claimed_at`,
`claim_expires_at`), by the one claim protocol of `mailboxes.claims` (`MAILBOX_CLAIM`). The
dispatcher claims due mailboxes itself, with a token it hands to the `sync_mailbox` task, so
that a mailbox is never queued twice and queued work counts against the profile's
`max_concurrent_connections` across every worker. The task swaps the dispatcher's token for
its own with a conditional UPDATE whose row count says whether it won the mailbox; a claim
whose holder died expires and the mailbox becomes due again.

A dispatcher's claim is not renewed while its task waits in the queue. Under a backlog it
lapses, and the next dispatch claims the mailbox again and queues a second task. The task
that runs first therefore takes over a mailbox that only a dispatcher holds, whichever
dispatcher's claim it is and whether or not it lapsed (a lapsed one only within the profile's
connection budget); it leaves a mailbox a worker holds, or one a worker has synced and
released since the task was queued, and the later task of the pair finds it so.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mailboxes import channels
from mailboxes.claims import ClaimColumns, new_token
from mailboxes.models import Mailbox
from mailboxes.sync.eligibility import may_connect_q
from profiles.models import EmailServerProfile

logger = logging.getLogger(__name__)

Status = Mailbox.ChannelStatus

# First transient back-off, before doubling; and the longest error back-off.
ERROR_BACKOFF_BASE_SECONDS = 60
ERROR_BACKOFF_MAX_SECONDS = 3600
# Idle back-off: a mailbox with nothing to do waits twice as long each time, up to this.
MAX_IDLE_BACKOFF_SECONDS = 4 * 3600


def claim_seconds() -> int:
    return int(settings.CRMSYNC_CLAIM_SECONDS)


def max_transient_failures() -> int:
    return int(settings.CRMSYNC_MAX_TRANSIENT_FAILURES)


# Claims last CRMSYNC_CLAIM_SECONDS; the holder renews them every third of that.
MAILBOX_CLAIM = ClaimColumns(
    holder="claimed_by", since="claimed_at", until="claim_expires_at", seconds=claim_seconds
)
# The dispatcher's tokens start so; a worker's never do.
QUEUED_PREFIX = "queued@"


def held_by_a_dispatcher_q() -> Q:
    """Mailboxes whose claim (live or lapsed) is a dispatcher's: queued, not yet running."""
    return Q(claimed_by__startswith=QUEUED_PREFIX)


# --- Which mailboxes need work -----------------------------------------------------------


def claim_is_free(now: datetime) -> Q:
    return MAILBOX_CLAIM.free_q(now)


def due_mailboxes(now: datetime | None = None) -> Q:
    """Allowed to connect (`eligibility`), a channel that needs work, due and unheld."""
    now = now or timezone.now()
    return may_connect_q() & channels.any_wanted_q(now) & due_and_unheld(now)


def due_and_unheld(now: datetime) -> Q:
    """The part of `due_mailboxes` read from the mailbox's own scheduling columns: cheap to
    ask (no join, a few columns), and false for every mailbox when nothing is due."""
    return (Q(next_due_at__isnull=True) | Q(next_due_at__lte=now)) & claim_is_free(now)


def live_claims(profile_id: int, now: datetime) -> int:
    """Mailboxes of the profile held (queued or syncing), across every worker."""
    return Mailbox.objects.filter(MAILBOX_CLAIM.held_q(now), profile_id=profile_id).count()


# --- Claims --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    mailbox_id: int
    token: str


# A task refilling its profile as it finishes claims once this share of the profile's
# connections is free (`refill_batch`).
REFILL_FRACTION = 10


def refill_batch(profile: EmailServerProfile) -> int:
    return max(1, profile.max_concurrent_connections // REFILL_FRACTION)


def claim_due_mailboxes(
    *,
    profile_id: int | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    refill: bool = False,
) -> list[Claim]:
    """Claim the due mailboxes that fit in their profiles' connection budgets.

    One transaction per profile holds the profile row locked while counting its live claims,
    so two dispatchers (beat, and workers dispatching as they finish) never overfill it.

    `refill`: a task's dispatch as it finishes claims only once `refill_batch` connections
    of the profile are free, so that under a backlog the queue is topped up a batch at a
    time rather than by a query of the due mailboxes after every task.
    """
    now = now or timezone.now()
    if profile_id is not None:
        profile_ids = [profile_id]
    else:
        # order_by(): the model's ordering would make DISTINCT one row per mailbox.
        due = Mailbox.objects.filter(due_mailboxes(now)).order_by()
        profile_ids = sorted(set(due.values_list("profile_id", flat=True).distinct()))
    claims: list[Claim] = []
    for pid in profile_ids:
        if limit is not None and len(claims) >= limit:
            break
        left = None if limit is None else limit - len(claims)
        claims.extend(_claim_for_profile(pid, now, limit=left, refill=refill))
    return claims


def _budget(profile: EmailServerProfile | None, now: datetime, limit: int | None) -> int:
    """How many more mailboxes of the profile may be queued or syncing now."""
    if profile is None:
        return 0
    held = live_claims(profile.pk, now)
    budget = profile.max_concurrent_connections - held
    return budget if limit is None else min(budget, limit)


def _due_ids(profile_id: int, now: datetime, count: int) -> list[int]:
    """The profile's `count` mailboxes due first."""
    return list(
        Mailbox.objects.filter(due_mailboxes(now), profile_id=profile_id)
        .order_by("next_due_at", "id")
        .values_list("id", flat=True)[:count]
    )


def _claim_for_profile(
    profile_id: int, now: datetime, *, limit: int | None, refill: bool
) -> list[Claim]:
    profiles = EmailServerProfile.objects.filter(pk=profile_id, is_active=True).only(
        "id", "max_concurrent_connections"
    )
    # Read before the profile is locked, so that a dispatch with nothing to claim (a full
    # budget, nothing due: the usual case when a task dispatches as it finishes) takes no
    # lock, and the locked part is short (on SQLite it holds the whole database). Nothing
    # due is asked first, of the scheduling columns alone: the whole rule (`_due_ids`)
    # costs several times more to build and run, and an idle cycle paid it at its end.
    if not Mailbox.objects.filter(due_and_unheld(now), profile_id=profile_id).exists():
        return []
    profile = profiles.first()
    if profile is None:
        return []
    budget = _budget(profile, now, limit)
    if budget < (refill_batch(profile) if refill else 1):
        return []
    candidates = _due_ids(profile_id, now, budget)
    if not candidates:
        return []
    token = new_token(QUEUED_PREFIX)
    with transaction.atomic():
        budget = _budget(profiles.select_for_update().first(), now, limit)
        if budget <= 0:
            return []
        ids = candidates[:budget]
        # Still free and not synced since: another dispatcher or a worker may have taken
        # some meanwhile (a worker's release sets next_due_at ahead).
        due = Mailbox.objects.filter(
            may_connect_q(), Q(next_due_at__isnull=True) | Q(next_due_at__lte=now)
        )
        won = MAILBOX_CLAIM.take(due.filter(id__in=ids), token, now)
        if won < len(ids):
            # Some were taken meanwhile (two dispatchers read the same candidates): fill
            # the budget from the mailboxes due now, as the lock holder sees them.
            more = _due_ids(profile_id, now, budget - won)
            if more:
                won += MAILBOX_CLAIM.take(due.filter(id__in=more), token, now)
                ids = [*ids, *more]
        if won == len(ids):
            return [Claim(mailbox_id=mid, token=token) for mid in ids]
    logger.info(
        "profile %s: %s of %s mailboxes claimed meanwhile", profile_id, len(ids) - won, len(ids)
    )
    return [
        Claim(mailbox_id=mid, token=token)
        for mid in Mailbox.objects.filter(id__in=ids, claimed_by=token)
        .order_by("id")
        .values_list("id", flat=True)
    ]


def take_over_claim(
    mailbox_id: int, queued_token: str, *, now: datetime | None = None
) -> Claim | None:
    """The task's half of the dispatcher's claim: swap a dispatcher's token for the worker's.

    `queued_token` is the claim the task was queued with; any dispatcher's claim will do.

    Any dispatcher's live claim is swapped (ours, or a later dispatch's after ours lapsed in
    the queue: the profile's budget counts it already); a lapsed one is taken while the
    profile has a free connection. A mailbox a worker holds, or has released since, is left.
    """
    now = now or timezone.now()
    token = new_token()
    # The mailbox may have been rejected or turned off since the dispatcher claimed it.
    rows = Mailbox.objects.filter(may_connect_q(), id=mailbox_id)
    if MAILBOX_CLAIM.hand_over(rows, held_by_a_dispatcher_q(), token, now) == 1:
        return Claim(mailbox_id, token)
    return _claim_within_budget(mailbox_id, held_by_a_dispatcher_q(), now, respect_limit=True)


def claim_mailbox(
    mailbox_id: int, *, now: datetime | None = None, respect_limit: bool = True
) -> Claim | None:
    """Claim one mailbox directly ("sync now", the command line), if nobody holds it and
    it may connect (`eligibility`).

    With `respect_limit`, only while its profile has a free connection.
    """
    return _claim_within_budget(mailbox_id, Q(), now or timezone.now(), respect_limit)


def _claim_within_budget(
    mailbox_id: int, only: Q, now: datetime, respect_limit: bool
) -> Claim | None:
    """Take the mailbox's free claim if it matches `only`; with `respect_limit`, only while
    its profile has a free connection."""
    token = new_token()
    with transaction.atomic():
        mailbox = Mailbox.objects.filter(id=mailbox_id).only("id", "profile_id").first()
        if mailbox is None:
            return None
        if respect_limit and mailbox.profile_id is not None:
            profile = (
                EmailServerProfile.objects.select_for_update()
                .filter(pk=mailbox.profile_id)
                .only("id", "max_concurrent_connections")
                .first()
            )
            held = live_claims(mailbox.profile_id, now)
            if profile is not None and held >= profile.max_concurrent_connections:
                return None
        rows = Mailbox.objects.filter(may_connect_q(), only, id=mailbox_id)
        won = MAILBOX_CLAIM.take(rows, token, now)
    return Claim(mailbox_id, token) if won == 1 else None


class ClaimLost(Exception):
    """Another worker took the mailbox over (our claim expired): stop writing at once."""


def extend_claim(claim: Claim, *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if not MAILBOX_CLAIM.renew(Mailbox.objects.filter(id=claim.mailbox_id), claim.token, now):
        raise ClaimLost(f"mailbox {claim.mailbox_id}: claim {claim.token} lost")


def release_claim(claim: Claim, **fields: object) -> bool:
    """Give the mailbox back, writing `fields` in the same statement; False if not ours."""
    rows = Mailbox.objects.filter(id=claim.mailbox_id)
    return MAILBOX_CLAIM.release(rows, claim.token, **fields) == 1


# --- When next -----------------------------------------------------------------------------


def poll_interval(profile: EmailServerProfile | None) -> timedelta:
    minutes = profile.min_polling_interval_minutes if profile is not None else 5
    return timedelta(minutes=max(1, minutes))


def idle_delay(profile: EmailServerProfile | None, idle_cycles: int) -> timedelta:
    """The profile's interval, doubled for each idle cycle in a row, up to the cap."""
    base = poll_interval(profile).total_seconds()
    seconds = base * (2 ** min(idle_cycles, 16))
    return timedelta(seconds=min(seconds, max(base, MAX_IDLE_BACKOFF_SECONDS)))


def error_delay(failures_in_a_row: int, retry_after: float | None) -> timedelta:
    """The server's hint when it gave one, else exponential back-off with ±20 % jitter."""
    if retry_after is not None and retry_after > 0:
        return timedelta(seconds=retry_after)
    seconds = ERROR_BACKOFF_BASE_SECONDS * (2 ** max(0, min(failures_in_a_row - 1, 16)))
    seconds = min(seconds, ERROR_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def make_due_now(mailbox_id: int) -> None:
    """Run the mailbox at the next dispatch ("sync now", a push event, a CRM change)."""
    Mailbox.objects.filter(id=mailbox_id).update(next_due_at=timezone.now())


def sync_now(mailbox_ids: Iterable[int]) -> int:
    """Make the mailboxes due now; failed channels stay failed.

    Idle back-off is lifted. A postponement after transient errors is kept: it is the
    server's back-off hint or our error back-off, and pressing "sync now" again and again
    must not hammer a server that asked us to wait.
    """
    ids = list(mailbox_ids)
    now = timezone.now()
    Mailbox.objects.filter(id__in=ids, transient_failure_count=0).update(
        **{channel.postpone_field: None for channel in channels.CHANNELS}
    )
    return Mailbox.objects.filter(id__in=ids).update(next_due_at=now)
