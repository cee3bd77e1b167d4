"""One sync cycle of one mailbox: claim, incoming email, outgoing email, ACT, release.

Channels run in the order the spec gives. A transient error ends the cycle and postpones
the mailbox (by the server's hint when it gave one); a permanent error fails its channel
(or, when it concerns the connection, every channel), raises an Alert and stops the mailbox
until a person acts (test & enable). After `CRMSYNC_MAX_TRANSIENT_FAILURES` transient
failures in a row the mailbox is failed the same way.

Which mailboxes want which channel is defined once, in `mailboxes.channels`; how each runs
is `RUNNERS`: `mailboxes.mail.cycle.run_incoming` / `run_outgoing` and
`mailboxes.sync.act.run_act`, each given the mailbox and a `CycleContext`. The imports go one
way: the cycle imports the channel definitions and the engines that run them; the channel
definitions import neither (they are data every layer reads).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import QuerySet
from django.utils import timezone

from crmsync.db_connections import database_lost, drop_lost_connections
from mailboxes import channels
from mailboxes.channels import Channel
from mailboxes.history import outcome_of, record_sync_run
from mailboxes.mail.cycle import run_incoming, run_outgoing
from mailboxes.mail.outgoing import next_send_due
from mailboxes.models import Alert, Mailbox
from mailboxes.sync import eligibility, scheduling
from mailboxes.sync.act import run_act
from mailboxes.sync.context import CycleContext, ProgressCallback
from mailboxes.sync.errors import ErrorKind, PermanentSyncError, SyncError, TransientSyncError
from mailboxes.sync.keeper import ClaimKeeper
from mailboxes.sync.scheduling import Claim, ClaimLost
from mailboxes.webhooks import plan as webhook_plan

logger = logging.getLogger(__name__)

Status = Mailbox.ChannelStatus


@dataclass
class CycleResult:
    mailbox_id: int
    ran: bool
    reason: str = ""
    # The mailbox may not connect (`eligibility`): `reason` says why.
    refused: bool = False
    # Every channel is failed or postponed: nothing ran, and nothing should until then.
    nothing_to_run: bool = False
    items_processed: int = 0
    items_failed: int = 0
    error: SyncError | None = None
    channels: dict[str, str] = field(default_factory=dict)
    duration_ms: int = 0
    # The mailbox's profile, as the cycle read it (None: no profile, or the mailbox is gone).
    profile_id: int | None = None
    gone: bool = False  # the mailbox is deleted


def _wanted(mailbox: Mailbox, now: datetime) -> list[Channel]:
    """The channels this cycle runs, in order: configured, not failed, not postponed; none
    for a mailbox that may not connect (`eligibility`)."""
    if not eligibility.may_connect(mailbox):
        return []
    return channels.wanted(mailbox, now)


def channels_wanted(mailbox: Mailbox, now: datetime) -> list[str]:
    return [channel.name for channel in _wanted(mailbox, now)]


# How each channel runs (a test checks that every channel has its runner).
RUNNERS: dict[str, Callable[[Mailbox, CycleContext], None]] = {
    channels.INCOMING.name: run_incoming,
    channels.OUTGOING.name: run_outgoing,
    channels.ACT.name: run_act,
}


def _run_channel(channel: str, mailbox: Mailbox, ctx: CycleContext) -> bool:
    """Run one channel; False when the mailbox may not connect."""
    if not eligibility.may_connect(mailbox):
        # channels_wanted() leaves them out already; the guard keeps every channel behind
        # the rule whoever calls it.
        logger.warning(
            "mailbox %s: %s not run: %s", mailbox.pk, channel, eligibility.refusal(mailbox)
        )
        return False
    RUNNERS[channel](mailbox, ctx)
    return True


def run_cycle(
    mailbox_id: int,
    *,
    queued_token: str | None = None,
    full_resync: bool = False,
    progress: ProgressCallback | None = None,
    respect_limit: bool = True,
) -> CycleResult:
    """Claim the mailbox, run its channels, write its status and next run, release it."""
    if queued_token:
        claim = scheduling.take_over_claim(mailbox_id, queued_token)
    else:
        claim = scheduling.claim_mailbox(mailbox_id, respect_limit=respect_limit)
    if claim is None:
        mailbox = Mailbox.objects.select_related("profile").filter(id=mailbox_id).first()
        refused = "the mailbox is deleted." if mailbox is None else eligibility.refusal(mailbox)
        reason = refused or "held by another worker or not due"
        return CycleResult(
            mailbox_id,
            ran=False,
            reason=reason,
            refused=bool(refused),
            profile_id=mailbox.profile_id if mailbox is not None else None,
            gone=mailbox is None,
        )
    try:
        return _run_claimed(claim, full_resync=full_resync, progress=progress)
    except BaseException:
        # A bug, or the worker is being stopped: give the mailbox back for a later cycle.
        try:
            drop_lost_connections()
            scheduling.release_claim(claim)
        except Exception:
            logger.warning(
                "mailbox %s: claim not given back; it expires", mailbox_id, exc_info=True
            )
        raise


def _run_channels(
    wanted: list[str], mailbox: Mailbox, ctx: CycleContext, result: CycleResult
) -> tuple[SyncError | None, str]:
    """Run the channels in order until one fails; the error and that channel."""
    error: SyncError | None = None
    failed_channel = ""
    for channel in wanted:
        try:
            if _run_channel(channel, mailbox, ctx):
                result.channels[channel] = Status.SUCCESS
        except ClaimLost:
            logger.warning("mailbox %s: claim lost during %s; stopping", mailbox.pk, channel)
            result.reason = "claim lost"
            ctx.claim = None
            break
        except SyncError as exc:
            error, failed_channel = exc, channel
            break
        except DatabaseError as exc:
            if not database_lost():
                error = _crashed(mailbox, channel, exc)
            else:
                logger.warning(
                    "mailbox %s: %s channel lost its database connection: %s",
                    mailbox.pk,
                    channel,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
                error = TransientSyncError(
                    f"The CRM's database connection was lost ({type(exc).__name__}).",
                    code="database_unavailable",
                    kind=ErrorKind.DATABASE,
                )
            failed_channel = channel
            break
        except Exception as exc:
            error = _crashed(mailbox, channel, exc)
            failed_channel = channel
            break
    return error, failed_channel


def _crashed(mailbox: Mailbox, channel: str, exc: Exception) -> SyncError:
    """A defect in our code: its traceback is logged here, once; staff get an alert; it
    counts as transient so that the mailbox retries with back-off and fails after N."""
    logger.error("mailbox %s: %s channel crashed", mailbox.pk, channel, exc_info=exc)
    return TransientSyncError(
        f"{type(exc).__name__}: {exc}", code="internal_error", kind=ErrorKind.INTERNAL
    )


def stall_seconds(mailbox: Mailbox) -> float:
    """How long a cycle may go without a heartbeat before its claim is left to expire:
    several of the profile's connection timeouts, at least ten minutes."""
    timeout = mailbox.profile.connection_timeout_ms / 1000 if mailbox.profile else 120.0
    return max(600.0, 4 * timeout)


def _run_claimed(
    claim: Claim, *, full_resync: bool, progress: ProgressCallback | None
) -> CycleResult:
    # The owner (user or queue) is read only to compose an email: not joined here.
    mailbox = Mailbox.objects.select_related("profile").filter(id=claim.mailbox_id).first()
    if mailbox is None:
        return CycleResult(claim.mailbox_id, ran=False, reason="mailbox deleted", gone=True)
    started = timezone.now()
    clock = time.monotonic()
    wanted = channels_wanted(mailbox, started)
    if not wanted:
        # Every channel is failed or postponed: nothing ran, so nothing succeeded. The
        # statuses, counters and postponements stay; the mailbox is due again when the
        # first postponement ends.
        scheduling.release_claim(claim, next_due_at=_postponed_until(mailbox, started))
        return CycleResult(
            mailbox.pk,
            ran=False,
            reason="every channel is failed or postponed",
            nothing_to_run=True,
            profile_id=mailbox.profile_id,
        )
    ctx = CycleContext(mailbox=mailbox, claim=claim, full_resync=full_resync, progress=progress)
    result = CycleResult(mailbox.pk, ran=True, profile_id=mailbox.profile_id)
    ctx.keeper = ClaimKeeper(claim, stall_seconds=stall_seconds(mailbox)).start()
    try:
        error, failed_channel = _run_channels(wanted, mailbox, ctx, result)
    finally:
        ctx.keeper.stop()
    # A channel that lost its database connection leaves it dead: the status, the release
    # and the run's record go through a new one.
    drop_lost_connections()
    result.items_processed, result.items_failed = ctx.items_processed, ctx.items_failed
    result.error = error
    result.duration_ms = int((time.monotonic() - clock) * 1000)
    if result.reason == "claim lost":
        return result
    fields = _status_fields(mailbox, ctx, result, started, error, failed_channel)
    if error is None and fields.get("next_due_at") is not None:
        # A Graph notification during the cycle: run again at once.
        fields["next_due_at"] = webhook_plan.rerun_if_notified(
            mailbox.pk, started, fields["next_due_at"]
        )
    if not scheduling.release_claim(claim, **fields):
        logger.warning("mailbox %s: claim expired before the cycle ended", mailbox.pk)
    record_sync_run(
        mailbox,
        started,
        result.duration_ms,
        result.items_processed,
        result.items_failed,
        outcome_of(error),
        f"{error.code}: {error.message}" if error is not None else "",
    )
    _alert_if_failed(mailbox, fields, error)
    return result


def _skipped_postponed(mailbox: Mailbox, now: datetime) -> list[Channel]:
    """Channels the mailbox uses that this cycle skips because they are postponed."""
    return [
        channel
        for channel in channels.configured(mailbox)
        if channel.status(mailbox) != Status.FAILURE
        and (until := channel.postponed_until(mailbox)) is not None
        and until > now
    ]


def _postponed_until(mailbox: Mailbox, now: datetime) -> datetime | None:
    """When the first postponed channel may run again (None: none is postponed)."""
    ends = [channel.postponed_until(mailbox) for channel in _skipped_postponed(mailbox, now)]
    return min((end for end in ends if end is not None), default=mailbox.next_due_at)


def _status_fields(
    mailbox: Mailbox,
    ctx: CycleContext,
    result: CycleResult,
    started: datetime,
    error: SyncError | None,
    failed_channel: str,
) -> dict[str, Any]:
    now = timezone.now()
    profile = mailbox.profile
    average = mailbox.average_duration_ms
    duration = result.duration_ms
    fields: dict[str, Any] = {
        "last_sync_started_at": started,
        "last_duration_ms": duration,
        # A moving average that a single slow cycle does not dominate.
        "average_duration_ms": duration if average is None else (average * 9 + duration) // 10,
        "items_processed": ctx.items_processed,
        "items_failed": ctx.items_failed,
    }
    for name, status in result.channels.items():
        channel = channels.BY_NAME[name]
        fields[channel.status_field] = status
        # The start of the cycle: the next push looks at changes made since then.
        fields[channel.processed_at_field] = started
        fields[channel.postpone_field] = None
    if error is None:
        busy = ctx.items_processed > 0 or ctx.items_failed > 0
        idle_cycles = 0 if busy else mailbox.idle_cycles + 1
        delay = (
            scheduling.poll_interval(profile)
            if busy
            else webhook_plan.idle_delay(
                mailbox, now, scheduling.idle_delay(profile, idle_cycles - 1)
            )
        )
        fields.update(idle_cycles=idle_cycles, next_due_at=now + delay)
        if channels.OUTGOING.name in result.channels:
            # An email waiting for its retry, or for a dead worker's claim to expire, is
            # sent when it is due, not after an idle back-off.
            waiting = next_send_due(mailbox)
            if waiting is not None:
                fields["next_due_at"] = max(now, min(fields["next_due_at"], waiting))
        postponed = _skipped_postponed(mailbox, started)
        if postponed:
            # The channels that ran succeeded; the postponed ones did not run: their
            # failure counters and back-off stay, and they run when it ends.
            ends = [c.postponed_until(mailbox) for c in postponed]
            first = min(end for end in ends if end is not None)
            fields["next_due_at"] = min(fields["next_due_at"], first)
            return fields
        fields.update(
            transient_failure_count=0,
            error_count=0,
            last_error_kind="",
            failing_since=None,
            last_success_at=now,
        )
        return fields
    fields.update(
        last_error_text=error.message[:4000],
        last_error_code=error.code[:100],
        last_error_kind=str(error.kind),
        last_error_at=now,
        failing_since=mailbox.failing_since or now,
        error_count=mailbox.error_count + 1,
        idle_cycles=0,
    )
    if isinstance(error, PermanentSyncError):
        failing = (
            _wanted(mailbox, started)
            if error.affects_mailbox
            else [channels.BY_NAME[failed_channel]]
        )
        for channel in failing:
            fields[channel.status_field] = Status.FAILURE
        fields["next_due_at"] = None
        return fields
    failed = not isinstance(error, TransientSyncError) or error.counts_as_failure
    failures = mailbox.transient_failure_count + (1 if failed else 0)
    retry_after = error.retry_after if isinstance(error, TransientSyncError) else None
    delay = scheduling.error_delay(failures, retry_after)
    fields["transient_failure_count"] = failures
    fields["next_due_at"] = now + delay
    for channel in _wanted(mailbox, started):
        if channel.name not in result.channels:
            fields[channel.postpone_field] = now + delay
    if failures >= scheduling.max_transient_failures():
        for channel in _wanted(mailbox, started):
            fields[channel.status_field] = Status.FAILURE
        fields["next_due_at"] = None
    return fields


# What the person reading the alert should do, by kind of failure.
WHAT_TO_DO = {
    ErrorKind.AUTHENTICATION: (
        "The mail server refused the credentials or the access. Enter the current password "
        "(the mailbox's, or the profile's service account's) and save it, or grant the "
        "access; saving new credentials or a passing Test & enable restarts the mailbox. It "
        "is not retried meanwhile, so that the account is not locked out."
    ),
    ErrorKind.MAILBOX_NOT_FOUND: (
        "The mail server has no mailbox with this address. Correct the address (or create "
        "the mailbox), then run Test & enable."
    ),
}
DEFAULT_WHAT_TO_DO = "Fix the cause, then run Test & enable."


def _alert_if_failed(mailbox: Mailbox, fields: dict[str, Any], error: SyncError | None) -> None:
    if error is None:
        return
    if error.kind == ErrorKind.INTERNAL:
        _alert_staff_of_bug(mailbox, error)
    failed = [c.name for c in channels.CHANNELS if fields.get(c.status_field) == Status.FAILURE]
    if not failed:
        return
    if isinstance(error, PermanentSyncError):
        reason = "a permanent error"
    else:
        reason = f"{fields.get('transient_failure_count')} transient failures in a row"
    Alert.objects.create(
        mailbox=mailbox,
        severity=Alert.Severity.ERROR,
        code=error.code[:100],
        message=(
            f"Synchronization of {mailbox.email_address} stopped ({', '.join(failed)}) after "
            f"{reason}: {error.message[:1000]}. "
            f"{WHAT_TO_DO.get(ErrorKind(error.kind), DEFAULT_WHAT_TO_DO)}"
        ),
    )
    _alert_profile_if_widespread(mailbox)


def _alert_staff_of_bug(mailbox: Mailbox, error: SyncError) -> None:
    """One alert per mailbox while it is not acknowledged: a defect of crmsync itself."""
    _alert_once(
        Alert.objects.filter(mailbox=mailbox, code="internal_error", acknowledged_at__isnull=True),
        mailbox=mailbox,
        code="internal_error",
        staff_only=True,
        message=(
            f"Synchronization of {mailbox.email_address} hit an error in crmsync itself, not "
            f"in the mail server: {error.message[:1000]}. The traceback is in the worker's "
            "log; the mailbox is retried with back-off. For the administrators: report it "
            "with the traceback."
        ),
    )


def _alert_profile_if_widespread(mailbox: Mailbox) -> None:
    """Alert the profile when more than half of its mailboxes failed within an hour."""
    profile = mailbox.profile
    if profile is None or not profile.send_alert_on_failures:
        return
    hour_ago = timezone.now() - timedelta(hours=1)
    mailboxes = Mailbox.objects.filter(profile=profile, is_active=True)
    total = mailboxes.count()
    failed = mailboxes.filter(last_error_at__gte=hour_ago).filter(channels.any_failed_q()).count()
    if total == 0 or failed * 2 <= total:
        return
    _alert_once(
        Alert.objects.filter(
            profile=profile, mailbox=None, code="profile_failures", created_at__gte=hour_ago
        ),
        profile=profile,
        code="profile_failures",
        message=f"{failed} of {total} mailboxes of profile {profile.name} failed within an hour.",
    )


def _alert_once(already: QuerySet[Alert], **fields: Any) -> None:
    """An error alert, unless `already` holds one: one alert per condition."""
    if not already.exists():
        Alert.objects.create(severity=Alert.Severity.ERROR, **fields)
