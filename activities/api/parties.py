"""Parties of activities in the API, and the attendees of an appointment written through
it: CRM users, contacts and plain addresses, each required, optional or a resource.

A caller names only what they may see: contacts by the records' visibility rule, users
among themselves and the people of their queues (all users for staff). A plain address is
linked to the CRM record it belongs to only when the caller may see that record, so no
answer shows the id of a record hidden from its reader.

Writing the list replaces the appointment's attendees; an attendee kept (same address)
keeps its response. Organizer, sender and recipient parties are never touched. Invitations
are the sync engine's business (`mailboxes/sync/push.py`): a meeting created after the
mailbox's first sync invites its attendees once, an update reaches the invited ones.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from rest_framework import serializers

from activities.api.visibility import queues_of, visible_to
from activities.models import Account, ActivityParty, Appointment, Contact
from mailboxes.mail.parties import PartyResolver, Resolution
from mailboxes.models import Mailbox
from users.models import User

MAX_ATTENDEES = 500

PARTICIPATION = {
    "required": ActivityParty.Role.REQUIRED_ATTENDEE,
    "optional": ActivityParty.Role.OPTIONAL_ATTENDEE,
    "resource": ActivityParty.Role.RESOURCE,
}
ATTENDEE_ROLES = list(PARTICIPATION.values())


def visible_users(user: User) -> QuerySet[User]:
    """The active users a caller may name: themselves and the owners and members of their
    queues; every active user for staff."""
    users = User.objects.filter(is_active=True)
    if user.is_staff:
        return users
    queues = queues_of(user).values("pk")
    return users.filter(
        Q(pk=user.pk) | Q(owned_queues__in=queues) | Q(member_queues__in=queues)
    ).distinct()


def _user_address(user: User) -> str:
    mailbox = Mailbox.objects.filter(user=user).exclude(email_address="").first()
    return mailbox.email_address if mailbox is not None else user.email


def _contact_addresses(contact: Contact) -> list[str]:
    return [
        a for a in (contact.email_address1, contact.email_address2, contact.email_address3) if a
    ]


class PartySerializer(serializers.ModelSerializer[ActivityParty]):
    # Not an EmailField: a party may be a raw address a mail server gave us, valid or not.
    address = serializers.CharField(read_only=True)

    class Meta:
        model = ActivityParty
        fields = ["role", "address", "display_name", "user", "contact", "account", "queue"]
        read_only_fields = ["user", "contact", "account", "queue"]


class AttendeeSerializer(serializers.Serializer[dict[str, Any]]):
    """One attendee: exactly one of `user`, `contact` or `address`."""

    user = serializers.IntegerField(
        required=False, min_value=1, help_text="A CRM user (id) you may see."
    )
    contact = serializers.IntegerField(
        required=False, min_value=1, help_text="A CRM contact (id) you may see."
    )
    address = serializers.EmailField(
        required=False,
        max_length=320,
        help_text="A plain email address; with `contact`, which of the contact's addresses "
        "to invite (by default its first).",
    )
    display_name = serializers.CharField(required=False, allow_blank=True, max_length=300)
    participation = serializers.ChoiceField(
        choices=list(PARTICIPATION), default="required", help_text="Defaults to required."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        named = [key for key in ("user", "contact") if key in attrs]
        if len(named) > 1:
            raise serializers.ValidationError("Name a user or a contact, not both.")
        if not named and "address" not in attrs:
            raise serializers.ValidationError("Name a user, a contact or an address.")
        if "user" in attrs and "address" in attrs:
            raise serializers.ValidationError(
                {"address": ["A user is invited at their own address; leave it out."]}
            )
        return attrs


class AttendeesField(serializers.ListField):
    """The write side of an appointment's attendees; they are read back as `parties`."""

    child = AttendeeSerializer()

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", MAX_ATTENDEES)
        kwargs.setdefault(
            "help_text",
            "The meeting's attendees, replacing the current ones (leave out to keep them). "
            "They are read back in `parties` with roles required, optional and resource.",
        )
        super().__init__(**kwargs)


def resolve_attendees(
    entries: list[dict[str, Any]], caller: User, owner: User | None
) -> list[ActivityParty]:
    """Unsaved attendee parties for `entries`, or a ValidationError naming each bad entry by
    its position."""
    users = visible_users(caller).in_bulk([e["user"] for e in entries if "user" in e])
    contacts = visible_to(Contact.objects.all(), caller).in_bulk(
        [e["contact"] for e in entries if "contact" in e]
    )
    resolver = PartyResolver(owner_user_id=owner.pk if owner is not None else None)
    plain = resolver.resolve_many(
        e["address"] for e in entries if "user" not in e and "contact" not in e
    )
    visible = _VisibleLinks(caller, plain.values())
    errors: dict[str, list[str]] = {}
    parties: list[ActivityParty] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        party = ActivityParty(
            # A partial update (PATCH) skips defaults, nested ones too.
            role=PARTICIPATION[entry.get("participation", "required")],
            display_name=entry.get("display_name", ""),
        )
        problem = _fill(party, entry, users, contacts, plain, visible)
        key = party.address.lower()
        if problem is None and key in seen:
            problem = f"{party.address} is already attendee {seen[key]}."
        if problem is not None:
            errors[str(index)] = [problem]
            continue
        seen[key] = index
        parties.append(party)
    if errors:
        raise serializers.ValidationError({"attendees": errors})
    return parties


class _VisibleLinks:
    """Which of the records the resolver linked plain addresses to the caller may see."""

    def __init__(self, caller: User, found: Any) -> None:
        found = list(found)
        self.users = set(
            visible_users(caller)
            .filter(pk__in=[r.user_id for r in found if r.user_id])
            .values_list("pk", flat=True)
        )
        self.contacts = set(
            visible_to(Contact.objects.all(), caller)
            .filter(pk__in=[r.contact_id for r in found if r.contact_id])
            .values_list("pk", flat=True)
        )
        self.accounts = set(
            visible_to(Account.objects.all(), caller)
            .filter(pk__in=[r.account_id for r in found if r.account_id])
            .values_list("pk", flat=True)
        )
        self.queues = set(
            queues_of(caller).values_list("pk", flat=True)
            if not caller.is_staff
            else [r.queue_id for r in found if r.queue_id]
        )

    def apply(self, party: ActivityParty, found: Resolution) -> None:
        if found.user_id in self.users:
            party.user_id = found.user_id
        elif found.queue_id in self.queues:
            party.queue_id = found.queue_id
        elif found.contact_id in self.contacts:
            party.contact_id = found.contact_id
        elif found.account_id in self.accounts:
            party.account_id = found.account_id


def _fill(
    party: ActivityParty,
    entry: dict[str, Any],
    users: dict[Any, User],
    contacts: dict[Any, Contact],
    plain: dict[str, Resolution],
    visible: _VisibleLinks,
) -> str | None:
    """Link `party` to what `entry` names; the problem in words when it cannot be."""
    if "user" in entry:
        user = users.get(entry["user"])
        if user is None:
            return f"No user with id {entry['user']} is visible to you."
        address = _user_address(user)
        if not address:
            return f"User {user.pk} has no email address to invite."
        party.user_id = user.pk
        party.address = address
        party.display_name = party.display_name or user.get_full_name()
        return None
    if "contact" in entry:
        contact = contacts.get(entry["contact"])
        if contact is None:
            return f"No contact with id {entry['contact']} is visible to you."
        addresses = _contact_addresses(contact)
        if not addresses:
            return f"Contact {contact.pk} has no email address to invite."
        wanted = entry.get("address")
        if wanted is not None:
            match = [a for a in addresses if a.lower() == wanted.lower()]
            if not match:
                return f"{wanted} is not an address of contact {contact.pk}."
            addresses = match
        party.contact_id = contact.pk
        party.address = addresses[0]
        party.display_name = party.display_name or contact.full_name
        return None
    party.address = entry["address"]
    visible.apply(party, plain.get(entry["address"].lower(), Resolution()))
    return None


def replace_attendees(appointment: Appointment, parties: list[ActivityParty] | None) -> Appointment:
    """Make `parties` the appointment's attendees (None: keep them); one kept by address
    keeps its response."""
    if parties is None:
        return appointment
    current = {
        p.address.lower(): p
        for p in ActivityParty.objects.filter(appointment=appointment, role__in=ATTENDEE_ROLES)
    }
    changed: list[ActivityParty] = []
    new: list[ActivityParty] = []
    for party in parties:
        party.appointment = appointment
        old = current.pop(party.address.lower(), None)
        if old is None:
            new.append(party)
            continue
        party.pk = old.pk
        party.response = old.response
        changed.append(party)
    ActivityParty.objects.filter(pk__in=[p.pk for p in current.values()]).delete()
    ActivityParty.objects.bulk_update(
        changed, ["role", "address", "display_name", "user", "contact", "account", "queue"]
    )
    ActivityParty.objects.bulk_create(new)
    return appointment
