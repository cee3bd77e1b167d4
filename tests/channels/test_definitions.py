"""Each channel's one definition gives the same answer as a query and in Python."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from mailboxes import channels
from mailboxes.models import Mailbox
from mailboxes.sync.listener import listened_mailboxes
from mailboxes.web.status import describe
from profiles.models import EmailServerProfile
from tests.factories import make_mailbox, make_profile

Status = Mailbox.ChannelStatus
ServerType = EmailServerProfile.ServerType


@pytest.fixture
def every_kind_of_mailbox(db: None) -> list[Mailbox]:
    """Mailboxes over every combination of delivery method, server type, status, postponement."""
    now = timezone.now()
    profiles = {kind: make_profile(server_type=kind) for kind in ServerType.values}
    mailboxes: list[Mailbox] = []
    for server_type, incoming, outgoing, act, status, postponed in itertools.product(
        ServerType.values,
        DeliveryMethod.values,
        OutgoingDeliveryMethod.values,
        ActDeliveryMethod.values,
        (Status.NOT_RUN, Status.FAILURE),
        (None, now + timedelta(hours=1), now - timedelta(hours=1)),
    ):
        mailboxes.append(
            make_mailbox(
                profile=profiles[server_type],
                email_address=f"box{len(mailboxes)}@example.com",
                incoming_delivery_method=incoming,
                outgoing_delivery_method=outgoing,
                act_delivery_method=act,
                incoming_status=status,
                outgoing_status=status,
                act_status=status,
                incoming_postpone_until=postponed,
                outgoing_postpone_until=postponed,
                act_postpone_until=postponed,
            )
        )
    return mailboxes


@pytest.mark.parametrize("channel", channels.CHANNELS, ids=lambda c: c.name)
def test_the_query_and_the_python_test_agree(
    channel: channels.Channel, every_kind_of_mailbox: list[Mailbox]
) -> None:
    now = timezone.now()
    loaded = Mailbox.objects.select_related("profile").filter(
        pk__in=[m.pk for m in every_kind_of_mailbox]
    )

    by_query = set(loaded.filter(channel.wanted_q(now)).values_list("pk", flat=True))
    in_python = {m.pk for m in loaded if channel.wants(m, now)}

    assert by_query == in_python
    assert 0 < len(by_query) < len(every_kind_of_mailbox)


def test_appointments_contacts_and_tasks_need_an_exchange_profile(db: None) -> None:
    pop3 = make_mailbox(profile=make_profile(server_type=ServerType.POP3_SMTP))
    exchange = make_mailbox(profile=make_profile(server_type=ServerType.EXCHANGE))

    assert [c.name for c in channels.configured(exchange)] == ["incoming", "outgoing", "act"]
    assert [c.name for c in channels.configured(pop3)] == ["incoming", "outgoing"]


def test_the_status_page_shows_the_incoming_email_of_a_forward_mailbox(db: None) -> None:
    mailbox = make_mailbox(
        profile=make_profile(),
        incoming_delivery_method=DeliveryMethod.FORWARD_MAILBOX,
        incoming_status=Status.FAILURE,
        last_error_text="login refused",
    )

    texts = [line.text for line in describe(mailbox)]

    assert "Incoming email: failing." in texts


@pytest.mark.parametrize("server_type", [ServerType.POP3_SMTP, ServerType.IMAP_SMTP])
def test_the_status_page_says_act_is_not_available_on_pop3_and_imap(
    db: None, server_type: str
) -> None:
    mailbox = make_mailbox(
        profile=make_profile(server_type=server_type),
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
    )
    label = ServerType(server_type).label
    exchange = " or ".join(ServerType(kind).label for kind in channels.ACT_SERVER_TYPES)

    texts = [line.text for line in describe(mailbox)]

    assert (
        f"Appointments, contacts and tasks: not available on {label} profiles, only on "
        f"{exchange} profiles."
    ) in texts


def test_no_act_line_when_the_mailbox_did_not_choose_it_or_its_profile_offers_it(
    db: None,
) -> None:
    pop3_without_act = make_mailbox(
        profile=make_profile(server_type=ServerType.POP3_SMTP),
        act_delivery_method=ActDeliveryMethod.NONE,
    )
    exchange = make_mailbox(
        profile=make_profile(server_type=ServerType.EXCHANGE),
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
    )

    assert not any("Appointments" in line.text for line in describe(pop3_without_act))
    act_lines = [line.text for line in describe(exchange) if "Appointments" in line.text]
    assert act_lines == ["Appointments, contacts and tasks: not synchronized yet."]


@pytest.mark.parametrize("channel", channels.CHANNELS, ids=lambda c: c.name)
def test_what_the_listener_watches_agrees_as_a_query_and_in_python(
    channel: channels.Channel, every_kind_of_mailbox: list[Mailbox]
) -> None:
    loaded = Mailbox.objects.select_related("profile").filter(
        pk__in=[m.pk for m in every_kind_of_mailbox]
    )

    by_query = set(loaded.filter(channel.listened_q()).values_list("pk", flat=True))
    in_python = {m.pk for m in loaded if channel.is_listened(m)}

    assert by_query == in_python
    assert bool(by_query) == channel.from_server


def test_the_listener_watches_the_channels_fed_by_the_server_that_have_not_failed(
    db: None,
) -> None:
    exchange = make_profile(server_type=ServerType.EXCHANGE)
    approved = {"approval_status": Mailbox.ApprovalStatus.APPROVED, "profile": exchange}
    none = {
        "incoming_delivery_method": DeliveryMethod.NONE,
        "outgoing_delivery_method": OutgoingDeliveryMethod.NONE,
        "act_delivery_method": ActDeliveryMethod.NONE,
    }
    incoming_only = make_mailbox(
        **approved, **{**none, "incoming_delivery_method": DeliveryMethod.SERVER_SIDE_SYNC}
    )
    outgoing_only = make_mailbox(
        **approved,
        **{**none, "outgoing_delivery_method": OutgoingDeliveryMethod.SERVER_SIDE_SYNC},
    )
    act_with_failed_incoming = make_mailbox(
        **approved,
        incoming_delivery_method=DeliveryMethod.SERVER_SIDE_SYNC,
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
        incoming_status=Status.FAILURE,
    )
    all_failed = make_mailbox(
        **approved,
        incoming_delivery_method=DeliveryMethod.SERVER_SIDE_SYNC,
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
        incoming_status=Status.FAILURE,
        act_status=Status.FAILURE,
    )

    assert sorted(listened_mailboxes()) == [incoming_only.pk, act_with_failed_incoming.pk]
    assert [c.name for c in channels.listened(incoming_only)] == ["incoming"]
    assert [c.name for c in channels.listened(act_with_failed_incoming)] == ["act"]
    assert channels.listened(outgoing_only) == channels.listened(all_failed) == []
