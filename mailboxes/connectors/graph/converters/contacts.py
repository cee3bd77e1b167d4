"""Graph contacts ⇄ the canonical contact (`mailboxes/itemtypes/contacts.py`).

Graph's contact has three email addresses, two business and two home phones, a mobile
phone, and home, business and other addresses. Every other phone EWS knows (faxes, pager,
assistant, other, callback, car, company main, ISDN, primary, radio, telex, TTY/TDD) is not
a property of a Graph contact: they are read and written as the extended properties of
their MAPI property tags ([MS-OXOCNTC] 2.2.1.4), the properties EWS shows as PhoneNumbers
entries (`PHONE_PROPERTIES`), so both protocols sync them alike.
"""

from __future__ import annotations

from typing import ClassVar

from mailboxes.connectors.base import Canonical
from mailboxes.connectors.graph.converters.common import Json, stamp_property
from mailboxes.itemtypes.common import categories, normalise_text

SELECT = (
    "givenName",
    "middleName",
    "surname",
    "displayName",
    "jobTitle",
    "department",
    "companyName",
    "emailAddresses",
    "businessPhones",
    "homePhones",
    "mobilePhone",
    "homeAddress",
    "businessAddress",
    "otherAddress",
    "categories",
    "personalNotes",
    "birthday",
    "lastModifiedDateTime",
    "changeKey",
    "parentFolderId",
)
PHONE_LISTS = {"businessPhones": ("business", "business2"), "homePhones": ("home", "home2")}
# MAPI property tag (Graph's extended property id) ⇄ the canonical phone key.
PHONE_PROPERTIES = {
    "String 0x3A24": "business_fax",  # PidTagBusinessFaxNumber
    "String 0x3A25": "home_fax",  # PidTagHomeFaxNumber
    "String 0x3A23": "other_fax",  # PidTagPrimaryFaxNumber (EWS's OtherFax)
    "String 0x3A21": "pager",  # PidTagPagerTelephoneNumber
    "String 0x3A2E": "assistant",  # PidTagAssistantTelephoneNumber
    "String 0x3A1F": "other",  # PidTagOtherTelephoneNumber
    "String 0x3A02": "callback",  # PidTagCallbackTelephoneNumber
    "String 0x3A1E": "car",  # PidTagCarTelephoneNumber
    "String 0x3A57": "company_main",  # PidTagCompanyMainTelephoneNumber
    "String 0x3A2D": "isdn",  # PidTagIsdnNumber
    "String 0x3A1A": "primary",  # PidTagPrimaryTelephoneNumber
    "String 0x3A1D": "radio",  # PidTagRadioTelephoneNumber
    "String 0x3A2C": "telex",  # PidTagTelexNumber
    "String 0x3A4B": "tty_tdd",  # PidTagTelecommunicationsDeviceForDeafTelephoneNumber
}
_PHONE_BY_ID = {prop_id.lower(): key for prop_id, key in PHONE_PROPERTIES.items()}
ADDRESSES = {"homeAddress": "home", "businessAddress": "business", "otherAddress": "other"}
# Graph's address parts ⇄ the canonical ones.
ADDRESS_PARTS = {
    "street": "street",
    "city": "city",
    "state": "state",
    "postalCode": "postal_code",
    "countryOrRegion": "country",
}
CANONICAL_PARTS = ("street", "city", "state", "postal_code", "country")


class GraphContactConverter:
    select: ClassVar[tuple[str, ...]] = SELECT
    # Read with every contact besides the stamp (its phones without a Graph property).
    extra_properties: ClassVar[tuple[str, ...]] = tuple(PHONE_PROPERTIES)

    def canonical(self, contact: Json) -> Canonical:
        emails = [
            str((e or {}).get("address") or "").strip().lower()
            for e in contact.get("emailAddresses") or []
        ]
        emails = [e for e in emails if e][:3]
        phones: dict[str, str] = {}
        for prop, keys in PHONE_LISTS.items():
            numbers = [str(n).strip() for n in contact.get(prop) or [] if n]
            phones.update({k: n for k, n in zip(keys, numbers, strict=False) if n})
        if (contact.get("mobilePhone") or "").strip():
            phones["mobile"] = str(contact["mobilePhone"]).strip()
        for prop in contact.get("singleValueExtendedProperties") or []:
            key = _PHONE_BY_ID.get(str(prop.get("id", "")).lower())
            number = str(prop.get("value") or "").strip()
            if key is not None and number:
                phones[key] = number
        addresses: dict[str, dict[str, str]] = {}
        for prop, label in ADDRESSES.items():
            value = contact.get(prop) or {}
            parts = {
                ours: str(value.get(theirs) or "").strip() for theirs, ours in ADDRESS_PARTS.items()
            }
            if any(parts.values()):
                addresses[label] = {p: parts[p] for p in CANONICAL_PARTS}
        birthday = contact.get("birthday")
        return {
            "first_name": contact.get("givenName") or "",
            "middle_name": contact.get("middleName") or "",
            "last_name": contact.get("surname") or "",
            "display_name": contact.get("displayName") or "",
            "job_title": contact.get("jobTitle") or "",
            "department": contact.get("department") or "",
            "company_name": contact.get("companyName") or "",
            "emails": emails + [""] * (3 - len(emails)),
            "phones": {k: phones[k] for k in sorted(phones)},
            "addresses": addresses,
            "categories": categories(contact.get("categories")),
            "notes": normalise_text(str(contact.get("personalNotes") or "")),
            "birthday": str(birthday)[:10] if birthday else None,
        }

    def payload(self, canonical: Canonical, *, record_id: int | None = None) -> Json:
        """The Graph contact to create, or to PATCH over the whole synced state."""
        phones = canonical["phones"]
        display = canonical["display_name"] or " ".join(
            p for p in (canonical["first_name"], canonical["last_name"]) if p
        )
        body: Json = {
            "givenName": canonical["first_name"] or None,
            "middleName": canonical["middle_name"] or None,
            "surname": canonical["last_name"] or None,
            "displayName": display or None,
            "jobTitle": canonical["job_title"] or None,
            "department": canonical["department"] or None,
            "companyName": canonical["company_name"] or None,
            "emailAddresses": [{"address": e, "name": e} for e in canonical["emails"] if e],
            "mobilePhone": phones.get("mobile") or None,
            "categories": categories(canonical["categories"]),
            "personalNotes": canonical["notes"] or "",
            "birthday": f"{canonical['birthday']}T11:59:00Z" if canonical["birthday"] else None,
        }
        for prop, keys in PHONE_LISTS.items():
            body[prop] = [phones[k] for k in keys if phones.get(k)]
        for prop, label in ADDRESSES.items():
            parts = canonical["addresses"].get(label) or {}
            body[prop] = {
                theirs: parts.get(ours) or None
                for theirs, ours in ADDRESS_PARTS.items()
                if parts.get(ours)
            }
        # Every one, "" for none: a PATCH over the synced state clears a number removed.
        props = [
            {"id": pid, "value": phones.get(key) or ""} for pid, key in PHONE_PROPERTIES.items()
        ]
        if record_id is not None:
            props.append(stamp_property(record_id))
        body["singleValueExtendedProperties"] = props
        return body
