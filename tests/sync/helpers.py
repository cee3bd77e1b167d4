"""Rows for sync tests: profiles and mailboxes that are due, approved and on a profile."""

from __future__ import annotations

from typing import Any

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests.factories import make_mailbox, make_profile, make_user


def exchange_profile(
    ews_url: str = "http://127.0.0.1:9/EWS/Exchange.asmx", **fields: Any
) -> EmailServerProfile:
    fields.setdefault("incoming_authentication_protocol", "basic")
    fields.setdefault("exchange_version", "2016")
    fields.setdefault("min_polling_interval_minutes", 5)
    fields.setdefault("connection_timeout_ms", 10_000)
    return make_profile(incoming_server_location=ews_url, **fields)


def act_mailbox(
    profile: EmailServerProfile,
    *,
    email: str | None = None,
    password: str = "secret",  # noqa: S107  (the emulator's test password)
    **fields: Any,
) -> Mailbox:
    """An approved mailbox syncing appointments, contacts and tasks only."""
    user = make_user(**({"email": email} if email else {}))
    fields.setdefault("approval_status", Mailbox.ApprovalStatus.APPROVED)
    fields.setdefault("incoming_delivery_method", DeliveryMethod.NONE)
    fields.setdefault("outgoing_delivery_method", OutgoingDeliveryMethod.NONE)
    fields.setdefault("act_delivery_method", ActDeliveryMethod.SERVER_SIDE_SYNC)
    return make_mailbox(
        user=user,
        email_address=user.email,
        profile=profile,
        username=user.email,
        password=password,
        **fields,
    )
