"""One error taxonomy at the connector seam: every failure of every protocol gets its kind,
and the cycle's statuses, alerts and retries follow from it (issue 15, part 1).

EWS failures come from the emulator's fault injection and a changed password; POP3, IMAP and
SMTP failures from a port nobody listens on. Only the internal error (a defect of ours, which
no server can produce) is made by replacing a channel's runner."""

from __future__ import annotations

import logging
import socket

import pytest

from crmsync.choices import DeliveryMethod, OutgoingDeliveryMethod
from ews_emulator.testing import EmulatorProcess
from mailboxes import channels
from mailboxes.connectors import ErrorKind, SyncError
from mailboxes.connectors.imap import ImapConnector, ImapSettings
from mailboxes.connectors.pop3 import Pop3Connector, Pop3Settings
from mailboxes.connectors.smtp import SmtpConnector, SmtpSettings
from mailboxes.models import Alert, Mailbox, SyncRun
from mailboxes.sync import cycle, scheduling
from mailboxes.sync.cycle import run_cycle
from mailboxes.sync.testing import test_and_enable as run_test_and_enable
from tests.sync.helpers import emulated_mailbox, exchange_profile, sync

Status = Mailbox.ChannelStatus
ALL_CHANNELS = {
    "incoming_delivery_method": DeliveryMethod.SERVER_SIDE_SYNC,
    "outgoing_delivery_method": OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
}


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.django_db
def test_a_password_changed_in_exchange_stops_the_mailbox_until_new_credentials_are_saved(
    ews: EmulatorProcess,
) -> None:
    mailbox = emulated_mailbox(ews, **ALL_CHANNELS)
    sync(mailbox)
    ews.control.set_password(mailbox.email_address, "changed-in-exchange")

    result = sync(mailbox, allow_error=True)

    assert result.error is not None
    assert (result.error.kind, result.error.code) == (
        ErrorKind.AUTHENTICATION,
        "authentication_failed",
    )
    assert (mailbox.incoming_status, mailbox.outgoing_status, mailbox.act_status) == (
        Status.FAILURE,
        Status.FAILURE,
        Status.FAILURE,
    )
    assert (mailbox.last_error_kind, mailbox.next_due_at) == (ErrorKind.AUTHENTICATION, None)
    assert list(SyncRun.objects.filter(mailbox=mailbox).values_list("outcome", flat=True)) == [
        "permanent",
        "success",
    ]
    alert = Alert.objects.get(mailbox=mailbox, code="authentication_failed")
    assert "Enter the current password" in alert.message
    # No retry: the dispatcher does not pick it, however long we wait.
    assert not Mailbox.objects.filter(scheduling.due_mailboxes(), pk=mailbox.pk).exists()

    mailbox.password = "changed-in-exchange"
    mailbox.save()

    mailbox.refresh_from_db()
    assert (mailbox.incoming_status, mailbox.outgoing_status, mailbox.act_status) == (
        Status.NOT_RUN,
        Status.NOT_RUN,
        Status.NOT_RUN,
    )
    assert Mailbox.objects.filter(scheduling.due_mailboxes(), pk=mailbox.pk).exists()
    recovered = sync(mailbox)
    assert recovered.error is None
    assert (mailbox.incoming_status, mailbox.act_status, mailbox.last_error_kind) == (
        Status.SUCCESS,
        Status.SUCCESS,
        "",
    )


@pytest.mark.django_db
def test_saving_other_fields_or_the_same_password_does_not_restart_it(
    ews: EmulatorProcess,
) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.set_password(mailbox.email_address, "changed-in-exchange")
    sync(mailbox, allow_error=True)
    assert mailbox.act_status == Status.FAILURE

    mailbox.password = "secret"
    mailbox.process_and_delete = True
    mailbox.save()

    mailbox.refresh_from_db()
    assert mailbox.act_status == Status.FAILURE


@pytest.mark.django_db
def test_new_service_account_credentials_on_the_profile_restart_its_mailboxes(
    ews: EmulatorProcess,
) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.set_password(mailbox.email_address, "rotated")
    sync(mailbox, allow_error=True)
    assert mailbox.act_status == Status.FAILURE
    profile = mailbox.profile
    assert profile is not None

    profile.incoming_password = "anything new"
    profile.save()

    mailbox.refresh_from_db()
    assert (mailbox.act_status, mailbox.last_error_kind) == (Status.NOT_RUN, "")


@pytest.mark.django_db
def test_a_passing_test_and_enable_lifts_an_authentication_failure(ews: EmulatorProcess) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.set_password(mailbox.email_address, "rotated")
    sync(mailbox, allow_error=True)
    failing_since = mailbox.failing_since
    assert run_test_and_enable(mailbox).status == "failure"
    mailbox.refresh_from_db()
    assert failing_since is not None and mailbox.failing_since == failing_since
    ews.control.set_password(mailbox.email_address, "secret")

    assert run_test_and_enable(mailbox).status == "success"

    mailbox.refresh_from_db()
    assert (mailbox.act_status, mailbox.last_error_kind) == (Status.NOT_RUN, "")
    assert mailbox.failing_since is None


# (fault, operation, kind, code, retry_after, permanent)
EWS_FAULTS = [
    ("auth_failure", None, ErrorKind.AUTHENTICATION, "authentication_failed", None, True),
    ("http_403", None, ErrorKind.AUTHENTICATION, "ErrorAccessDenied", None, True),
    ("server_busy", None, ErrorKind.THROTTLED, "ErrorServerBusy", 7.0, False),
    ("http_429", None, ErrorKind.THROTTLED, "ErrorServerBusy", 7.0, False),
    ("http_500", None, ErrorKind.SERVER, "server_error", None, False),
    ("http_503", None, ErrorKind.SERVER, "server_error", None, False),
    ("drop", None, ErrorKind.NETWORK, "connection_dropped", None, False),
    ("delay", None, ErrorKind.NETWORK, "timeout", None, False),
    ("garbage", None, ErrorKind.PROTOCOL, "protocol_error", None, False),
    # The first call of an incoming cycle resolves the Inbox (GetFolder): classified too,
    # with the server's back-off hint.
    ("server_busy", "GetFolder", ErrorKind.THROTTLED, "ErrorServerBusy", 7.0, False),
    ("auth_failure", "GetFolder", ErrorKind.AUTHENTICATION, "authentication_failed", None, True),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "operation", "kind", "code", "retry_after", "permanent"),
    EWS_FAULTS,
    ids=[f"{f[0]}-{f[1] or 'first call'}" for f in EWS_FAULTS],
)
def test_each_exchange_failure_gets_its_kind(
    ews: EmulatorProcess,
    fault: str,
    operation: str | None,
    kind: ErrorKind,
    code: str,
    retry_after: float | None,
    permanent: bool,
) -> None:
    profile = exchange_profile(ews.ews_url, connection_timeout_ms=1500)
    mailbox = emulated_mailbox(ews, profile=profile, **ALL_CHANNELS)
    ews.control.inject_fault(
        fault,
        operation=operation,
        mailbox=mailbox.email_address,
        back_off_ms=7000,
        delay_ms=4000,
    )
    try:
        result = sync(mailbox, allow_error=True)
    finally:
        ews.control.clear_faults()

    error = result.error
    assert error is not None
    assert (error.kind, error.code, error.permanent) == (kind, code, permanent)
    assert getattr(error, "retry_after", None) == retry_after
    assert mailbox.last_error_kind == kind
    assert not Alert.objects.filter(mailbox=mailbox, code="internal_error").exists()
    if permanent:
        assert mailbox.act_status == Status.FAILURE and mailbox.next_due_at is None
    else:
        assert mailbox.act_status != Status.FAILURE and mailbox.transient_failure_count == 1
        assert mailbox.act_postpone_until is not None


@pytest.mark.django_db
def test_a_refused_exchange_connection_is_a_transient_network_error(
    ews: EmulatorProcess,
) -> None:
    mailbox = emulated_mailbox(ews, **ALL_CHANNELS)
    profile = mailbox.profile
    assert profile is not None
    profile.incoming_server_location = f"http://127.0.0.1:{closed_port()}/EWS/Exchange.asmx"
    profile.save()

    result = sync(mailbox, allow_error=True)

    assert result.error is not None
    assert (result.error.kind, result.error.code, result.error.permanent) == (
        ErrorKind.NETWORK,
        "connection_refused",
        False,
    )
    assert mailbox.transient_failure_count == 1
    assert not Alert.objects.filter(mailbox=mailbox).exists()


@pytest.mark.parametrize(
    "connect",
    [
        lambda port: Pop3Connector(Pop3Settings("127.0.0.1", port, "u", "p", use_ssl=False)),
        lambda port: ImapConnector(ImapSettings("127.0.0.1", port, "u", "p", use_ssl=False)),
        lambda port: SmtpConnector(SmtpSettings("127.0.0.1", port, security="none")),
    ],
    ids=["pop3", "imap", "smtp"],
)
def test_a_refused_mail_server_connection_is_a_transient_network_error(connect: object) -> None:
    connector = connect(closed_port())  # type: ignore[operator]

    with pytest.raises(SyncError) as raised:
        connector.connect()

    assert (raised.value.kind, raised.value.code, raised.value.permanent) == (
        ErrorKind.NETWORK,
        "connection_refused",
        False,
    )


@pytest.mark.django_db
def test_a_bug_of_ours_is_logged_once_alerts_staff_once_and_is_retried(
    ews: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = emulated_mailbox(ews)

    def broken(mailbox: Mailbox, ctx: object) -> None:
        raise ZeroDivisionError("a defect")

    monkeypatch.setitem(cycle.RUNNERS, channels.ACT.name, broken)
    with caplog.at_level(logging.ERROR):
        first = sync(mailbox, allow_error=True)
        second = sync(mailbox, allow_error=True)

    for result in (first, second):
        assert result.error is not None
        assert (result.error.kind, result.error.code) == (ErrorKind.INTERNAL, "internal_error")
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 2  # once per cycle, not again by anyone else
    assert Alert.objects.filter(mailbox=mailbox, code="internal_error").count() == 1
    assert mailbox.act_status != Status.FAILURE and mailbox.transient_failure_count == 2
    assert Alert.objects.get(mailbox=mailbox, code="internal_error").staff_only


@pytest.mark.django_db
def test_a_cycle_that_skips_a_postponed_channel_is_not_its_success(ews: EmulatorProcess) -> None:
    mailbox = emulated_mailbox(ews, **ALL_CHANNELS)
    sync(mailbox)
    # The appointments channel fails with HTTP 500 (fetching a new contact) after the email
    # channels ran (an idle Inbox needs no GetItem).
    ews.control.seed(mailbox.email_address, "contacts", 1)
    ews.control.inject_fault("http_500", operation="GetItem", count=1)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=None)
    failed = run_cycle(mailbox.pk, respect_limit=False)
    ews.control.clear_faults()
    assert failed.error is not None and failed.error.kind == ErrorKind.SERVER
    before = Mailbox.objects.get(pk=mailbox.pk)
    assert before.act_postpone_until is not None and before.incoming_postpone_until is None

    scheduling.sync_now([mailbox.pk])
    result = run_cycle(mailbox.pk, respect_limit=False)

    assert result.ran and result.error is None and channels.ACT.name not in result.channels
    after = Mailbox.objects.get(pk=mailbox.pk)
    assert after.act_status == before.act_status
    assert after.act_postpone_until == before.act_postpone_until
    assert (after.transient_failure_count, after.error_count) == (
        before.transient_failure_count,
        before.error_count,
    )
    assert after.last_success_at == before.last_success_at
    assert after.next_due_at is not None and after.next_due_at <= before.act_postpone_until


@pytest.mark.django_db
def test_a_cycle_whose_every_channel_failed_is_not_a_success(ews: EmulatorProcess) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.set_password(mailbox.email_address, "rotated")
    sync(mailbox, allow_error=True)
    before = Mailbox.objects.get(pk=mailbox.pk)
    runs = SyncRun.objects.filter(mailbox=mailbox).count()

    result = run_cycle(mailbox.pk, respect_limit=False)

    assert not result.ran and result.reason == "every channel is failed or postponed"
    after = Mailbox.objects.get(pk=mailbox.pk)
    assert SyncRun.objects.filter(mailbox=mailbox).count() == runs
    assert (after.act_status, after.last_success_at, after.error_count) == (
        Status.FAILURE,
        before.last_success_at,
        before.error_count,
    )
    assert after.claimed_by == ""


@pytest.mark.django_db
def test_failing_since_is_the_first_failure_after_the_last_success(ews: EmulatorProcess) -> None:
    # given a mailbox that synced, then lost its server for two cycles in a row
    mailbox = emulated_mailbox(ews)
    sync(mailbox)
    profile = mailbox.profile
    assert profile is not None
    working = profile.incoming_server_location
    profile.incoming_server_location = f"http://127.0.0.1:{closed_port()}/EWS/Exchange.asmx"
    profile.save()
    sync(mailbox, allow_error=True)
    first_failure = mailbox.last_error_at
    sync(mailbox, allow_error=True)

    # then the status counts from the first of them, not from the latest retry
    assert first_failure is not None and mailbox.last_error_at is not None
    assert mailbox.last_error_at > first_failure
    assert mailbox.failing_since == first_failure

    # and a successful cycle ends the streak
    profile.incoming_server_location = working
    profile.save()
    sync(mailbox)
    assert mailbox.failing_since is None


@pytest.mark.django_db
def test_more_than_half_of_a_profiles_mailboxes_failing_alerts_the_profile_once(
    ews: EmulatorProcess,
) -> None:
    profile = exchange_profile(ews.ews_url)
    first, second, third = (emulated_mailbox(ews, profile=profile) for _ in range(3))
    sync(third)
    for mailbox in (first, second):
        ews.control.set_password(mailbox.email_address, "changed-in-exchange")

    sync(first, allow_error=True)
    assert not Alert.objects.filter(profile=profile, code="profile_failures").exists()
    sync(second, allow_error=True)
    Mailbox.objects.filter(pk=first.pk).update(act_status=Status.NOT_RUN)
    sync(first, allow_error=True)

    alert = Alert.objects.get(profile=profile, code="profile_failures")
    assert alert.mailbox is None
    assert alert.message == f"2 of 3 mailboxes of profile {profile.name} failed within an hour."
