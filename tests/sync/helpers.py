"""Rows for sync tests: profiles and mailboxes that are due, approved and on a profile."""

from __future__ import annotations

import uuid
from typing import Any

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from ews_emulator.testing import EmulatorProcess
from mailboxes.models import ItemTypeSyncOptions, Mailbox
from mailboxes.sync.cycle import CycleResult, run_cycle
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


def new_address(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def emulated_mailbox(ews: EmulatorProcess, **fields: Any) -> Mailbox:
    """A mailbox in the emulator and its twin in the CRM, on a profile pointing at it."""
    email = new_address()
    ews.control.create_mailbox(email, "secret")
    profile = fields.pop("profile", None) or exchange_profile(ews.ews_url)
    return act_mailbox(profile, email=email, **fields)


def sync(mailbox: Mailbox, *, allow_error: bool = False, **kwargs: Any) -> CycleResult:
    """One cycle, called directly; fails the test on an error the cycle recorded."""
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=None, act_postpone_until=None)
    result = run_cycle(mailbox.pk, respect_limit=False, **kwargs)
    assert result.ran, result.reason
    if not allow_error and result.error is not None:
        raise AssertionError(f"cycle failed: {result.error.code}: {result.error.message}")
    mailbox.refresh_from_db()
    return result


def options(mailbox: Mailbox, item_type: str, **fields: Any) -> ItemTypeSyncOptions:
    row = ItemTypeSyncOptions.objects.get(mailbox=mailbox, item_type=item_type)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row
