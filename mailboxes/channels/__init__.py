"""The channels of a mailbox: incoming email, outgoing email, and appointments, contacts and
tasks. Each is defined once (`base.Channel`); the cycle runs the wanted ones in this order.
"""

from __future__ import annotations

import operator
from datetime import datetime
from functools import reduce

from django.db.models import Q

from mailboxes.channels.appointments_contacts_tasks import (
    ACT,
    ACT_SERVER_TYPES,
    EXCHANGE_SERVER_TYPES,
)
from mailboxes.channels.base import Channel, Status
from mailboxes.channels.incoming_email import INCOMING
from mailboxes.channels.outgoing_email import OUTGOING
from mailboxes.models import Mailbox

CHANNELS: tuple[Channel, ...] = (INCOMING, OUTGOING, ACT)
BY_NAME = {channel.name: channel for channel in CHANNELS}


def wanted(mailbox: Mailbox, now: datetime) -> list[Channel]:
    """The channels a cycle of this mailbox runs, in order."""
    return [channel for channel in CHANNELS if channel.wants(mailbox, now)]


def configured(mailbox: Mailbox) -> list[Channel]:
    """The channels this mailbox uses, failed or postponed or not."""
    return [channel for channel in CHANNELS if channel.is_configured(mailbox)]


def listened(mailbox: Mailbox) -> list[Channel]:
    """The channels whose folders the push listener watches on this mailbox."""
    return [channel for channel in CHANNELS if channel.is_listened(mailbox)]


def any_listened_q() -> Q:
    """Mailboxes with at least one channel the push listener watches for."""
    return reduce(operator.or_, (channel.listened_q() for channel in CHANNELS))


def any_wanted_q(now: datetime) -> Q:
    """Mailboxes with at least one channel that needs work."""
    return reduce(operator.or_, (channel.wanted_q(now) for channel in CHANNELS))


def any_failed_q() -> Q:
    """Mailboxes with at least one channel stopped by a failure."""
    return reduce(operator.or_, (channel.failed_q() for channel in CHANNELS))


__all__ = [
    "ACT",
    "ACT_SERVER_TYPES",
    "BY_NAME",
    "CHANNELS",
    "EXCHANGE_SERVER_TYPES",
    "INCOMING",
    "OUTGOING",
    "Channel",
    "Status",
    "any_failed_q",
    "any_listened_q",
    "any_wanted_q",
    "configured",
    "listened",
    "wanted",
]
