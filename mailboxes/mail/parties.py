"""Resolving email addresses to CRM records: user, then queue, then contact, then account,
else the raw address is kept.

Queues come right after users: both are the CRM's own addresses (a queue's mailbox is where
customers write to), and a queue must be recognized as a party for mail to a user and a queue
to become one activity with both. One resolver serves one cycle and caches what it found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import BigIntegerField, CharField, F, QuerySet, Value
from django.db.models.functions import Cast, Lower

from activities.models import Account, ActivityParty, Contact
from mailboxes.mail.mime import Address
from mailboxes.mail.text import clean
from mailboxes.models import Mailbox, Queue
from users.models import User


@dataclass(frozen=True)
class Resolution:
    user_id: int | None = None
    queue_id: int | None = None
    contact_id: int | None = None
    account_id: int | None = None

    @property
    def kind(self) -> str:
        for kind in ("user", "queue", "contact", "account"):
            if getattr(self, f"{kind}_id") is not None:
                return kind
        return ""

    @property
    def is_crm_record(self) -> bool:
        """A contact, account or user (the "from CRM records" tracking option)."""
        return self.kind in ("user", "contact", "account")

    @property
    def is_email_enabled_record(self) -> bool:
        return self.kind != ""


UNRESOLVED = Resolution()


# Where a match comes from, in the order that decides between several: a user, a user's
# or a queue's mailbox, a queue, a contact, an account.
KINDS = ("user", "user_mailbox", "queue_mailbox", "queue", "contact", "account")


def _matches(addresses: list[str]) -> QuerySet[Any]:
    """Every record with one of `addresses` (lower case) on any of its address columns, as
    (kind, lower-case address, target id, owner user id) rows: one query (UNION ALL), each
    part served by the functional index on the lower-cased column."""
    # A typed NULL: PostgreSQL types an untyped NULL of the first parts as text, which then
    # cannot be matched with the contacts' and accounts' bigint owner column.
    no_owner = Cast(Value(None), output_field=BigIntegerField())

    def part(
        qs: QuerySet[Any], kind: str, column: str, target: str, owner: Any = no_owner
    ) -> QuerySet[Any]:
        return (
            qs.annotate(
                m_kind=Value(kind, output_field=CharField()),
                m_address=Lower(column),
                m_target=F(target),
                m_owner=owner,
            )
            .filter(m_address__in=addresses)
            .order_by()  # a part of a UNION may not be ordered
            .values_list("m_kind", "m_address", "m_target", "m_owner")
        )

    mailboxes = Mailbox.objects.all()
    contacts = Contact.objects.all()
    parts = [
        part(User.objects.filter(is_active=True), "user", "email", "pk"),
        part(mailboxes.filter(user__isnull=False), "user_mailbox", "email_address", "user_id"),
        part(mailboxes.filter(queue__isnull=False), "queue_mailbox", "email_address", "queue_id"),
        part(Queue.objects.all(), "queue", "email_address", "pk"),
        *(
            part(contacts, "contact", column, "pk", F("owner_user_id"))
            for column in ("email_address1", "email_address2", "email_address3")
        ),
        part(Account.objects.all(), "account", "email_address", "pk", F("owner_user_id")),
    ]
    return parts[0].union(*parts[1:], all=True)


class PartyResolver:
    """Email addresses to CRM records, for email and appointments alike.

    The first match wins in the order of `KINDS`; between records of one kind, the owner's
    own contact or account (`owner_user_id`: the mailbox's user), then the oldest. Addresses
    compare case-insensitively on every column. One resolver serves one cycle (or one page)
    and caches what it found.
    """

    def __init__(self, owner_user_id: int | None = None) -> None:
        self.owner_user_id = owner_user_id
        self._cache: dict[str, Resolution] = {}

    def resolve(self, address: str) -> Resolution:
        return self.resolve_many([address]).get(address.lower(), UNRESOLVED)

    def resolve_many(self, addresses: Iterable[str]) -> dict[str, Resolution]:
        wanted = {a.lower() for a in addresses if a}
        missing = sorted(wanted - self._cache.keys())
        if missing:
            self._lookup(missing)
        return {a: self._cache.get(a, UNRESOLVED) for a in wanted}

    def _lookup(self, addresses: list[str]) -> None:
        rank = {kind: i for i, kind in enumerate(KINDS)}
        rows = sorted(
            _matches(addresses),
            key=lambda r: (rank[r[0]], r[3] is None or r[3] != self.owner_user_id, r[2]),
        )
        found: dict[str, Resolution] = {}
        for kind, address, target, _owner in rows:
            if address not in found:
                found[address] = _resolution(kind, target)
        for address in addresses:
            self._cache[address] = found.get(address, UNRESOLVED)


def _resolution(kind: str, target: int) -> Resolution:
    if kind in ("user", "user_mailbox"):
        return Resolution(user_id=target)
    if kind in ("queue", "queue_mailbox"):
        return Resolution(queue_id=target)
    if kind == "contact":
        return Resolution(contact_id=target)
    return Resolution(account_id=target)


def build_party(role: str, address: Address, resolution: Resolution) -> ActivityParty:
    return ActivityParty(
        role=role,
        address=clean(address.address, 320),
        display_name=clean(address.name, 300),
        user_id=resolution.user_id,
        queue_id=resolution.queue_id,
        contact_id=resolution.contact_id,
        account_id=resolution.account_id,
    )
