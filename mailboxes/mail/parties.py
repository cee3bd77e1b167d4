"""Resolving email addresses to CRM records: user, then queue, then contact, then account,
else the raw address is kept.

Queues come right after users: both are the CRM's own addresses (a queue's mailbox is where
customers write to), and a queue must be recognized as a party for mail to a user and a queue
to become one activity with both. One resolver serves one cycle and caches what it found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q
from django.db.models.functions import Lower

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


class PartyResolver:
    def __init__(self) -> None:
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
        found: dict[str, Resolution] = {}

        def take(address: str, resolution: Resolution) -> None:
            found.setdefault(address, resolution)

        users = (
            User.objects.filter(is_active=True)
            .annotate(lower_email=Lower("email"))
            .filter(lower_email__in=addresses)
            .order_by("pk")
            .values_list("lower_email", "pk")
        )
        for address, pk in users:
            take(address, Resolution(user_id=pk))
        # A user's mailbox may have an address other than the user's own.
        mailboxes = (
            Mailbox.objects.annotate(lower_email=Lower("email_address"))
            .filter(lower_email__in=addresses)
            .order_by("pk")
            .values_list("lower_email", "user_id", "queue_id")
        )
        for address, user_id, _queue_id in mailboxes:
            if user_id is not None:
                take(address, Resolution(user_id=user_id))
        for address, _user_id, queue_id in mailboxes:
            if queue_id is not None:
                take(address, Resolution(queue_id=queue_id))
        queues = (
            Queue.objects.annotate(lower_email=Lower("email_address"))
            .filter(lower_email__in=addresses)
            .order_by("pk")
            .values_list("lower_email", "pk")
        )
        for address, pk in queues:
            take(address, Resolution(queue_id=pk))
        contacts = (
            Contact.objects.annotate(
                e1=Lower("email_address1"), e2=Lower("email_address2"), e3=Lower("email_address3")
            )
            .filter(Q(e1__in=addresses) | Q(e2__in=addresses) | Q(e3__in=addresses))
            .order_by("pk")
            .values_list("pk", "e1", "e2", "e3")
        )
        wanted = set(addresses)
        for pk, *emails in contacts:
            for address in emails:
                if address in wanted:
                    take(address, Resolution(contact_id=pk))
        accounts = (
            Account.objects.annotate(lower_email=Lower("email_address"))
            .filter(lower_email__in=addresses)
            .order_by("pk")
            .values_list("lower_email", "pk")
        )
        for address, pk in accounts:
            take(address, Resolution(account_id=pk))
        for address in addresses:
            self._cache[address] = found.get(address, UNRESOLVED)


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
