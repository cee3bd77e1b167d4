"""Exchange contacts ⇄ canonical contacts (`mailboxes/itemtypes/contacts.py`): names,
company, every email / phone / address entry, Exchange's labels mapped to the CRM's."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from exchangelib import Contact as EwsContact
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import Item

from mailboxes.connectors.base import Canonical
from mailboxes.connectors.ews.converters.common import ews_date
from mailboxes.itemtypes.common import body_text, categories, date_iso, parse_date

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


class ContactConverter:
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

    def build_item(self, canonical: Canonical, *, folder: Any) -> EwsContact:
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
            categories=canonical["categories"] or None,
            body=canonical["notes"] or None,
            birthday=ews_date(birthday) if birthday else None,
        )
