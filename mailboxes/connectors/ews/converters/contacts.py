"""Exchange contacts ⇄ CRM contacts: names, company, every email / phone / address entry."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from django.db.models import Q
from exchangelib import Contact as EwsContact
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import Item

from activities.models import ChangeOrigin, Contact
from mailboxes.connectors.ews.converters.common import (
    Canonical,
    TypePolicy,
    body_text,
    categories,
    date_iso,
    ews_date,
    normalise_text,
    parse_date,
)
from mailboxes.models import ItemType, ItemTypeSyncOptions, Mailbox

EMAIL_LABELS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")
ADDRESS_LABELS = {"Business": "business", "Home": "home", "Other": "other"}
ADDRESS_PARTS = {
    "street": "street",
    "city": "city",
    "state": "state",
    "zipcode": "postal_code",
    "country": "country",
}
# Exchange phone labels ⇄ the CRM's keys (business, home, mobile, ...).
PHONE_LABELS = {
    "BusinessPhone": "business",
    "BusinessPhone2": "business2",
    "HomePhone": "home",
    "HomePhone2": "home2",
    "MobilePhone": "mobile",
    "BusinessFax": "business_fax",
    "HomeFax": "home_fax",
    "OtherFax": "other_fax",
    "OtherTelephone": "other",
    "AssistantPhone": "assistant",
    "Callback": "callback",
    "CarPhone": "car",
    "CompanyMainPhone": "company_main",
    "Isdn": "isdn",
    "Pager": "pager",
    "PrimaryPhone": "primary",
    "RadioPhone": "radio",
    "Telex": "telex",
    "TtyTddPhone": "tty_tdd",
}
PHONE_KEYS = {v: k for k, v in PHONE_LABELS.items()}


def _snake(label: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", label).lower()


class ContactConverter(TypePolicy):
    links_accounts: ClassVar[bool] = True

    item_type: ClassVar[str] = ItemType.CONTACT
    model: ClassVar[type[Contact]] = Contact
    distinguished_folder: ClassVar[str] = "contacts"
    ews_class: ClassVar[type[Item]] = EwsContact
    update_fields: ClassVar[tuple[str, ...]] = (
        "given_name",
        "middle_name",
        "surname",
        "display_name",
        "job_title",
        "department",
        "company_name",
        "email_addresses",
        "phone_numbers",
        "physical_addresses",
        "categories",
        "body",
        "birthday",
    )
    # What we read: what we write, plus the bookkeeping of the item.
    ews_fields: ClassVar[tuple[str, ...]] = (*update_fields, "last_modified_time", "item_class")
    record_fields: ClassVar[tuple[str, ...]] = (
        "first_name",
        "middle_name",
        "last_name",
        "display_name",
        "job_title",
        "department",
        "company_name",
        "email_address1",
        "email_address2",
        "email_address3",
        "phone_numbers",
        "addresses",
        "categories",
        "notes",
        "birthday",
        "account",
    )

    def item_canonical(self, item: Any, occurrences: dict[str, Any] | None = None) -> Canonical:
        emails = {e.label: (e.email or "").strip().lower() for e in item.email_addresses or []}
        phones = {
            PHONE_LABELS.get(p.label, _snake(p.label)): (p.phone_number or "").strip()
            for p in item.phone_numbers or []
            if p.phone_number
        }
        addresses: dict[str, dict[str, str]] = {}
        for a in item.physical_addresses or []:
            parts = {
                ours: (getattr(a, theirs) or "").strip() for theirs, ours in ADDRESS_PARTS.items()
            }
            if any(parts.values()):
                addresses[ADDRESS_LABELS.get(a.label, a.label.lower())] = parts
        return {
            "first_name": item.given_name or "",
            "middle_name": item.middle_name or "",
            "last_name": item.surname or "",
            "display_name": item.display_name or "",
            "job_title": item.job_title or "",
            "department": item.department or "",
            "company_name": item.company_name or "",
            "emails": [emails.get(label, "") for label in EMAIL_LABELS],
            "phones": phones,
            "addresses": addresses,
            "categories": categories(item.categories),
            "notes": body_text(item.body),
            "birthday": date_iso(item.birthday),
        }

    def record_canonical(
        self, record: Contact, *, parties: object = None, exceptions: object = None
    ) -> Canonical:
        """The record's canonical form (a contact has no parties or exceptions)."""
        return {
            "first_name": record.first_name,
            "middle_name": record.middle_name,
            "last_name": record.last_name,
            "display_name": record.display_name,
            "job_title": record.job_title,
            "department": record.department,
            "company_name": record.company_name,
            "emails": [
                (record.email_address1 or "").lower(),
                (record.email_address2 or "").lower(),
                (record.email_address3 or "").lower(),
            ],
            "phones": {k: v for k, v in (record.phone_numbers or {}).items() if v},
            "addresses": {
                label: {part: (parts or {}).get(part, "") or "" for part in ADDRESS_PARTS.values()}
                for label, parts in (record.addresses or {}).items()
                if any((parts or {}).values())
            },
            "categories": categories(record.categories),
            "notes": normalise_text(record.notes),
            "birthday": date_iso(record.birthday),
        }

    def apply(self, record: Contact, canonical: Canonical, mailbox: Mailbox) -> None:
        record.first_name = canonical["first_name"][:100]
        record.middle_name = canonical["middle_name"][:100]
        record.last_name = canonical["last_name"][:100]
        record.display_name = canonical["display_name"][:300]
        record.job_title = canonical["job_title"][:200]
        record.department = canonical["department"][:200]
        if record.company_name != canonical["company_name"]:
            # The account link follows the company name; the engine resolves it per page.
            record.account_id = None
        record.company_name = canonical["company_name"][:200]
        record.email_address1, record.email_address2, record.email_address3 = canonical["emails"]
        record.phone_numbers = dict(canonical["phones"])
        record.addresses = {k: dict(v) for k, v in canonical["addresses"].items()}
        record.categories = list(canonical["categories"])
        record.notes = canonical["notes"]
        record.birthday = parse_date(canonical["birthday"])
        record.change_origin = ChangeOrigin.SYNC
        record.change_origin_mailbox = mailbox

    def build_item(
        self, canonical: Canonical, *, stamp_categories: Sequence[str], folder: Any
    ) -> EwsContact:
        birthday = parse_date(canonical["birthday"])
        display = canonical["display_name"] or " ".join(
            p for p in (canonical["first_name"], canonical["last_name"]) if p
        )
        return EwsContact(
            folder=folder,
            given_name=canonical["first_name"] or None,
            middle_name=canonical["middle_name"] or None,
            surname=canonical["last_name"] or None,
            display_name=display or None,
            job_title=canonical["job_title"] or None,
            department=canonical["department"] or None,
            company_name=canonical["company_name"] or None,
            email_addresses=[
                EmailAddress(label=label, email=email)
                for label, email in zip(EMAIL_LABELS, canonical["emails"], strict=True)
                if email
            ]
            or None,
            phone_numbers=[
                PhoneNumber(label=PHONE_KEYS[key], phone_number=number)
                for key, number in sorted(canonical["phones"].items())
                if key in PHONE_KEYS and number
            ]
            or None,
            physical_addresses=[
                PhysicalAddress(
                    label=label.capitalize(),
                    **{theirs: parts.get(ours) or None for theirs, ours in ADDRESS_PARTS.items()},
                )
                for label, parts in sorted(canonical["addresses"].items())
                if label in ADDRESS_LABELS.values()
            ]
            or None,
            categories=categories([*canonical["categories"], *stamp_categories]) or None,
            body=canonical["notes"] or None,
            birthday=ews_date(birthday) if birthday else None,
        )

    def exports(self, record: Contact, options: ItemTypeSyncOptions) -> bool:
        """Only contacts in the selected categories, when the mailbox exports those only."""
        if options.contact_export_scope != options.ContactExportScope.SELECTED_CATEGORIES:
            return True
        wanted = set(options.contact_export_categories or [])
        return bool(wanted & set(record.categories or []))

    def candidates_q(self, items: Sequence[Any], canonicals: dict[str, Canonical]) -> Q:
        """Unmapped contacts with one of these email addresses or last names."""
        emails = {e for i in items for e in canonicals[i.id]["emails"] if e}
        last_names = {canonicals[i.id]["last_name"] for i in items}
        return Q(email_address1__in=emails) | Q(last_name__in=last_names)

    def identity(self, canonical: Canonical) -> str:
        email = next((e for e in canonical["emails"] if e), "")
        names = f"{canonical['first_name']}|{canonical['last_name']}".lower()
        return f"{names}|{email}"
