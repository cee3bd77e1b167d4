"""Microsoft 365 mailboxes on the emulator's Graph for the engine's tests, and what the
emulator holds for them."""

from __future__ import annotations

from typing import Any

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from mailboxes.models import Mailbox
from tests.conftest import M365
from tests.factories import make_user


def graph_mailbox(m365: M365, **fields: Any) -> Mailbox:
    """An approved Graph mailbox syncing appointments, contacts and tasks only."""
    email = m365.tenant.new_mailbox_address()
    user = make_user(email=email)
    return m365.mailbox(
        email=email,
        user=user,
        incoming_delivery_method=DeliveryMethod.NONE,
        outgoing_delivery_method=OutgoingDeliveryMethod.NONE,
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
        **fields,
    )


def items_of(m365: M365, mailbox: Mailbox, folder: str) -> list[dict[str, Any]]:
    return m365.tenant.control.items(mailbox.email_address, folder)
