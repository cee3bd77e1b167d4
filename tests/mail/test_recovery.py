"""A mailbox stopped by a wrong password runs again once test & enable passes, on POP3,
IMAP (Dovecot), EWS (the emulator) and Microsoft 365 (a wrong client secret, the emulator's
Graph); test & enable restarts a failed channel from the self-service page and the admin."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import Email
from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from ews_emulator.testing import EmulatorProcess
from mailboxes.models import Mailbox
from mailboxes.sync.cycle import run_cycle
from mailboxes.sync.testing import test_and_enable as run_test_and_enable
from profiles.models import EmailServerProfile
from tests.conftest import M365
from tests.graph_support import SECRET
from tests.mail.messages import build
from tests.servers import DovecotServer

Status = Mailbox.ChannelStatus
EMAIL_ONLY = {
    "incoming_delivery_method": DeliveryMethod.SERVER_SIDE_SYNC,
    "outgoing_delivery_method": OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
    "act_delivery_method": ActDeliveryMethod.NONE,
}


def cycle(mailbox: Mailbox) -> Mailbox:
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=None)
    result = run_cycle(mailbox.pk, respect_limit=False)
    assert result.ran, result.reason
    return Mailbox.objects.select_related("profile").get(pk=mailbox.pk)


def new_password(password: str) -> Callable[[Mailbox], None]:
    def fix(mailbox: Mailbox) -> None:
        mailbox.password = password
        mailbox.save()

    return fix


def recover(
    mailbox: Mailbox,
    deliver: Callable[[bytes], object],
    fix: Callable[[Mailbox], None],
    code: str = "authentication_failed",
) -> None:
    """Given a mailbox with a wrong password and one message waiting on its server."""
    deliver(build(to=mailbox.email_address, subject="waiting"))

    failed = cycle(mailbox)

    assert (failed.incoming_status, failed.last_error_code) == (Status.FAILURE, code)
    assert run_test_and_enable(failed).status == "failure"
    assert Mailbox.objects.get(pk=mailbox.pk).incoming_status == Status.FAILURE

    fix(failed)
    passed = run_test_and_enable(Mailbox.objects.select_related("profile").get(pk=mailbox.pk))

    assert passed.status == "success", passed.message
    assert Mailbox.objects.get(pk=mailbox.pk).incoming_status == Status.NOT_RUN
    recovered = cycle(failed)
    assert recovered.incoming_status == Status.SUCCESS
    assert list(Email.objects.filter(mailbox=mailbox).values_list("subject", flat=True)) == [
        "waiting"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("server_type", ["pop3", "imap"])
def test_a_wrong_password_on_dovecot_is_recovered_by_test_and_enable(
    server_type: str,
    pop3_profile: EmailServerProfile,
    imap_profile: EmailServerProfile,
    make_mailbox: Callable[..., Mailbox],
    dovecot: DovecotServer,
) -> None:
    profile = pop3_profile if server_type == "pop3" else imap_profile
    mailbox = make_mailbox(profile, password="wrong", **EMAIL_ONLY)

    recover(
        mailbox, lambda raw: dovecot.deliver(mailbox.email_address, raw), new_password("secret")
    )


@pytest.mark.django_db
def test_a_wrong_password_on_exchange_is_recovered_by_test_and_enable(
    ews: EmulatorProcess,
    make_profile: Callable[..., EmailServerProfile],
    make_mailbox: Callable[..., Mailbox],
) -> None:
    profile = make_profile(
        EmailServerProfile.ServerType.EXCHANGE,
        incoming_server_location=ews.ews_url,
        incoming_authentication_protocol="basic",
    )
    mailbox = make_mailbox(profile, password="wrong", **EMAIL_ONLY)
    password = "ews-" + uuid.uuid4().hex[:8]
    ews.control.create_mailbox(mailbox.email_address, password)

    recover(
        mailbox,
        lambda raw: ews.control.deliver(mailbox.email_address, raw),
        new_password(password),
    )


@pytest.mark.django_db
def test_a_wrong_client_secret_on_microsoft_365_is_recovered_by_test_and_enable(
    m365: M365,
) -> None:
    mailbox = m365.mailbox(
        profile=m365.profile(oauth_client_secret="wrong"),
        tracking_option=Mailbox.TrackingOption.ALL,
        **EMAIL_ONLY,
    )

    def right_secret(mailbox: Mailbox) -> None:
        profile = mailbox.profile
        assert profile is not None
        profile.oauth_client_secret = SECRET
        profile.save()

    recover(
        mailbox,
        lambda raw: m365.tenant.control.deliver(mailbox.email_address, raw),
        right_secret,
        code="wrong_client_secret",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["self-service page", "admin"])
@pytest.mark.parametrize("server_type", ["pop3", "imap"])
def test_a_failed_channel_is_restarted_from_the_self_service_page_and_the_admin(
    where: str,
    server_type: str,
    pop3_profile: EmailServerProfile,
    imap_profile: EmailServerProfile,
    make_mailbox: Callable[..., Mailbox],
    on_workers: Callable[..., object],
    staff_client: Client,
) -> None:
    profile = pop3_profile if server_type == "pop3" else imap_profile
    mailbox = make_mailbox(profile, password="wrong", **EMAIL_ONLY)
    assert cycle(mailbox).incoming_status == Status.FAILURE
    new_password("secret")(mailbox)

    if where == "admin":
        on_workers(
            staff_client.post,
            reverse("admin:mailboxes_mailbox_changelist"),
            {"action": "test_and_enable_mailboxes", "_selected_action": [mailbox.pk]},
        )
    else:
        assert mailbox.user is not None
        owner = Client()
        owner.force_login(mailbox.user)
        on_workers(owner.post, reverse("mailboxes:test-connection", args=[mailbox.pk]))

    restarted = Mailbox.objects.get(pk=mailbox.pk)
    assert (restarted.test_status, restarted.incoming_status) == (Status.SUCCESS, Status.NOT_RUN)
    assert cycle(restarted).incoming_status == Status.SUCCESS
