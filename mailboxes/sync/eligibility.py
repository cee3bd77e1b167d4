"""The one rule that decides whether a mailbox may touch its mail server.

A mailbox may connect when it is active, approved, its email address is the one an
administrator approved (`approved_email_address`: a changed address waits for approval
again, as Dynamics' "approve email address"), and it is on an active profile.

The rule is written once, as `REQUIREMENTS`; `may_connect_q()` turns it into a queryset
filter and `refusal()` / `may_connect()` check a loaded mailbox against it. Every path that
talks to a server obeys it: the dispatcher, every claim, each channel of the cycle, "sync
now", test & enable, the folder listing and the push listener.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import and_
from typing import Any

from django.db.models import F, Q

from mailboxes.lookups import value_at
from mailboxes.models import Mailbox

APPROVED = Mailbox.ApprovalStatus.APPROVED
PENDING = Mailbox.ApprovalStatus.PENDING


@dataclass(frozen=True)
class SameAs:
    """Another field of the same mailbox, as a requirement's value."""

    field: str


@dataclass(frozen=True)
class Requirement:
    """`field` (a path through relations, as in a filter) must equal `value`, a constant or
    `SameAs(other_field)`; `refusal` says why in plain words."""

    field: str
    value: Any
    refusal: str

    def q(self) -> Q:
        value = F(self.value.field) if isinstance(self.value, SameAs) else self.value
        return Q(**{self.field: value})

    def holds(self, mailbox: Mailbox) -> bool:
        expected = self.value
        if isinstance(expected, SameAs):
            expected = value_at(mailbox, expected.field)
        return bool(value_at(mailbox, self.field) == expected)


REQUIREMENTS = (
    Requirement("is_active", True, "the mailbox is turned off."),
    Requirement(
        "email_address",
        SameAs("approved_email_address"),
        "its email address waits for an administrator's approval.",
    ),
    Requirement("approval_status", APPROVED, "an administrator has not approved the mailbox."),
    # A missing profile fails this too: NULL is not True in SQL, None is not True here.
    Requirement("profile__is_active", True, "it has no active email server profile."),
)


def may_connect_q() -> Q:
    """The rule as a filter on `Mailbox`."""
    return reduce(and_, (r.q() for r in REQUIREMENTS))


def refusal(mailbox: Mailbox) -> str:
    """Why the mailbox may not connect, in plain words; "" when it may."""
    for requirement in REQUIREMENTS:
        if not requirement.holds(mailbox):
            return requirement.refusal
    return ""


def may_connect(mailbox: Mailbox) -> bool:
    return not refusal(mailbox)


# --- Approval ------------------------------------------------------------------------------

# An approval covers the address the mailbox has when it is given.
APPROVE = {"approval_status": APPROVED, "approved_email_address": F("email_address")}


def approve(mailbox: Mailbox) -> None:
    """Approve the mailbox and its current address (on the object; the caller saves)."""
    mailbox.approval_status = APPROVED
    mailbox.approved_email_address = mailbox.email_address


def address_changed(mailbox: Mailbox) -> None:
    """A new address needs a new approval; a rejected mailbox stays rejected."""
    if mailbox.approval_status == APPROVED and (
        mailbox.email_address != mailbox.approved_email_address
    ):
        mailbox.approval_status = PENDING
