"""CRM contacts: names, company, three email addresses, phones and postal addresses by label.

The canonical form's labels are the CRM's ("business", "home", "mobile", ...); each
connector maps its server's labels to them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.db.models import Q
from django.db.models.functions import Lower

from activities.models import Account, ChangeOrigin, Contact
from mailboxes.connectors.base import Canonical, RemoteItem
from mailboxes.itemtypes.common import (
    TypePolicy,
    categories,
    date_iso,
    normalise_text,
    parse_date,
)
from mailboxes.models import ItemType

if TYPE_CHECKING:
    from mailboxes.models import ItemTypeSyncOptions, Mailbox

# The parts of a postal address in canonical form.
ADDRESS_PARTS = ("street", "city", "state", "postal_code", "country")


class ContactType(TypePolicy[Contact]):
    links_accounts: ClassVar[bool] = True
    has_subfolders: ClassVar[bool] = True
    export_reads: ClassVar[tuple[str, ...]] = ("categories",)

    item_type: ClassVar[str] = ItemType.CONTACT
    model = Contact
    default_folder: ClassVar[str] = "contacts"
    record_fields: ClassVar[tuple[str, ...]] = Contact.CONTENT_FIELDS

    def record_canonical(
        self, record: Contact, *, parties: Any = None, exceptions: Any = None
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
                label: {part: (parts or {}).get(part, "") or "" for part in ADDRESS_PARTS}
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

    def exports(self, record: Contact, options: ItemTypeSyncOptions) -> bool:
        """Only contacts in the selected categories, when the mailbox exports those only."""
        if options.contact_export_scope != options.ContactExportScope.SELECTED_CATEGORIES:
            return True
        wanted = set(options.contact_export_categories or [])
        return bool(wanted & set(record.categories or []))

    def candidates_q(self, items: Sequence[RemoteItem]) -> Q:
        """Unmapped contacts with one of these email addresses or last names."""
        emails = {e for i in items for e in i.canonical["emails"] if e}
        last_names = {i.canonical["last_name"] for i in items}
        return Q(email_address1__in=emails) | Q(last_name__in=last_names)

    def identity(self, canonical: Canonical) -> str:
        email = next((e for e in canonical["emails"] if e), "")
        names = f"{canonical['first_name']}|{canonical['last_name']}".lower()
        return f"{names}|{email}"

    def link_related(self, records: Sequence[Contact]) -> None:
        """Contacts follow their company to an account."""
        link_accounts([c for c in records if c.account_id is None])

    def subject(self, canonical: Canonical) -> str:
        """A contact's name (it has no subject)."""
        names = (canonical.get("first_name"), canonical.get("last_name"))
        return " ".join(p for p in names if p)[:500]


def link_accounts(contacts: Sequence[Contact]) -> None:
    """Link each contact to the one account named like its company; none if several match."""
    names = {c.company_name.strip().lower() for c in contacts if c.company_name.strip()}
    if not names:
        return
    matches: dict[str, list[int]] = defaultdict(list)
    for pk, name in (
        Account.objects.annotate(n=Lower("name")).filter(n__in=names).values_list("pk", "n")
    ):
        matches[name].append(pk)
    for contact in contacts:
        found = matches.get(contact.company_name.strip().lower(), [])
        contact.account_id = found[0] if len(found) == 1 else None
