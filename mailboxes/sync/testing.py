"""Test & enable, for every protocol: connect, authenticate, open what each enabled channel
reads (EWS folders, the POP3 mailbox, the IMAP inbox, an SMTP login), send nothing; record
the result in the status fields and the profile's last-test fields; restart the mailbox's
failed channels on success, raise an Alert on failure.

Only a mailbox that may connect (`eligibility`) is tested: an unapproved address is never
sent the profile's service account, and a rejected or turned-off mailbox is never turned
back on by a test (it does not touch `is_active` or the approval)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from mailboxes import channels
from mailboxes.connectors import registry
from mailboxes.models import Alert, Mailbox
from mailboxes.sync import eligibility
from mailboxes.sync.errors import PermanentSyncError, SyncError, TransientSyncError
from profiles.models import EmailServerProfile

logger = logging.getLogger(__name__)

Status = Mailbox.ChannelStatus


@dataclass
class TestResult:
    status: str
    message: str
    duration_ms: int


def check_mailbox(mailbox: Mailbox) -> list[str]:
    """Log in to the servers the mailbox's channels use and open what they read; what was
    opened, in words. Nothing is sent, fetched or deleted."""
    profile = mailbox.profile
    if profile is None:
        raise PermanentSyncError("The mailbox has no email server profile.", code="no_profile")
    if not profile.is_active:
        raise PermanentSyncError("The mailbox's profile is inactive.", code="profile_inactive")
    return registry.protocol_of(profile).tester(mailbox, channels.configured(mailbox))


def test_and_enable(mailbox: Mailbox, *, on_profile: bool = True) -> TestResult:
    """Test the mailbox; its result is the profile's last test too unless `on_profile` is
    False (a profile test, which records its own summary)."""
    refused = eligibility.refusal(mailbox)
    if refused:
        logger.info("mailbox %s: not tested: %s", mailbox.pk, refused)
        return TestResult("refused", f"Not tested: {refused}", 0)
    started = timezone.now()
    clock = time.monotonic()
    try:
        opened = check_mailbox(mailbox)
    except SyncError as exc:
        return _record_failure(mailbox, started, clock, exc, on_profile=on_profile)
    duration = int((time.monotonic() - clock) * 1000)
    message = f"Connected and opened {', '.join(opened) or 'no folders'}; nothing was sent."
    fields: dict[str, object] = {
        "test_status": Status.SUCCESS,
        "tested_at": started,
        "next_due_at": timezone.now(),
        "transient_failure_count": 0,
        "error_count": 0,
        "last_error_kind": "",
        "failing_since": None,
    }
    for channel in channels.CHANNELS:
        fields[channel.postpone_field] = None
        # A channel stopped by a failure runs again: reset it to "not run".
        if channel.status(mailbox) == Status.FAILURE:
            fields[channel.status_field] = Status.NOT_RUN
    # Written only while the mailbox still may connect: an administrator may have rejected
    # it or turned it off during the test.
    Mailbox.objects.filter(eligibility.may_connect_q(), pk=mailbox.pk).update(**fields)
    if on_profile:
        _record_profile(mailbox.profile, started, duration, "success", message)
    return TestResult("success", message, duration)


def _record_failure(
    mailbox: Mailbox, started: object, clock: float, exc: SyncError, *, on_profile: bool
) -> TestResult:
    duration = int((time.monotonic() - clock) * 1000)
    kind = "transient" if isinstance(exc, TransientSyncError) else "permanent"
    message = f"Test failed ({kind}, {exc.code}): {exc.message}"
    Mailbox.objects.filter(pk=mailbox.pk).update(
        test_status=Status.FAILURE,
        tested_at=started,
        last_error_text=message[:4000],
        last_error_code=exc.code[:100],
        last_error_kind=str(exc.kind),
        last_error_at=timezone.now(),
        failing_since=Coalesce(F("failing_since"), Value(timezone.now())),
    )
    Alert.objects.create(
        mailbox=mailbox,
        profile=mailbox.profile,
        severity=Alert.Severity.ERROR,
        code=exc.code[:100],
        message=f"Test & enable of {mailbox.email_address} failed: {exc.message[:1000]}",
    )
    if on_profile:
        _record_profile(mailbox.profile, started, duration, "failure", message)
    return TestResult("failure", message, duration)


def _record_profile(
    profile: EmailServerProfile | None, started: object, duration: int, status: str, message: str
) -> None:
    if profile is None:
        return
    EmailServerProfile.objects.filter(pk=profile.pk).update(
        last_test_status=status,
        last_test_started_at=started,
        last_test_duration_ms=duration,
        last_test_message=message[:4000],
    )


def test_profile_mailboxes(profile: EmailServerProfile) -> str:
    """Test & enable every mailbox of the profile that may connect; the profile keeps a
    summary."""
    started = timezone.now()
    clock = time.monotonic()
    application = ""
    check_profile = registry.protocol_of(profile).profile_tester
    if check_profile is not None:
        # The profile's own credentials first (over Graph: the application's token, and
        # which channels its roles allow).
        try:
            application = check_profile(profile)
        except SyncError as exc:
            duration = int((time.monotonic() - clock) * 1000)
            message = f"Test failed ({exc.code}): {exc.message}"
            _record_profile(profile, started, duration, "failure", message)
            return "failure"
    mailboxes = list(
        Mailbox.objects.select_related("profile").filter(
            eligibility.may_connect_q(), profile=profile
        )
    )
    # A worker has the test: the page keeps showing it running (no longer "queued") until
    # the summary below; the mailboxes' own results do not stand in for it meanwhile.
    EmailServerProfile.objects.filter(pk=profile.pk).update(
        last_test_duration_ms=None, last_test_message=running_message(len(mailboxes))
    )
    results = [test_and_enable(m, on_profile=False) for m in mailboxes]
    failed = sum(1 for r in results if r.status == "failure")
    status = "success" if failed == 0 else ("failure" if failed == len(results) else "warning")
    message = f"{len(results) - failed} of {len(results)} mailboxes passed." + _skipped(
        profile, [m.pk for m in mailboxes]
    )
    if application:
        tested = message if results else "No mailbox may connect yet, none was tested."
        message = f"{application} {tested}"
    _record_profile(profile, started, int((time.monotonic() - clock) * 1000), status, message)
    return status


def running_message(count: int) -> str:
    return f"Running on a worker: testing {count} mailbox{'' if count == 1 else 'es'}."


# Skipped mailboxes named in a profile test's summary; the rest are counted.
NAMED_SKIPPED = 10


def _skipped(profile: EmailServerProfile, tested: list[int]) -> str:
    """The profile's mailboxes that were not tested, each with the reason in words."""
    others = list(
        Mailbox.objects.select_related("profile")
        .filter(profile=profile)
        .exclude(pk__in=tested)
        .order_by("email_address")
    )
    if not others:
        return ""
    named = "; ".join(
        f"{m.email_address} ({eligibility.refusal(m).rstrip('.')})" for m in others[:NAMED_SKIPPED]
    )
    more = f"; and {len(others) - NAMED_SKIPPED} more" if len(others) > NAMED_SKIPPED else ""
    return f" {len(others)} not tested: {named}{more}."
