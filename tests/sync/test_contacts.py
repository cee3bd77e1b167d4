"""Contacts both ways against the emulator: fields, account link, echo suppression."""

import pytest

from activities.models import ChangeOrigin, Contact
from mailboxes.models import ExchangeSyncIdMapping, ItemType
from tests.factories import make_account, make_contact
from tests.sync.helpers import emulated_mailbox, sync

pytestmark = pytest.mark.django_db

FULL_CONTACT = {
    "GivenName": "Grace",
    "MiddleName": "B.",
    "Surname": "Hopper",
    "DisplayName": "Grace Hopper",
    "JobTitle": "Rear Admiral",
    "Department": "Research",
    "CompanyName": "Navy Labs",
    "EmailAddresses": {
        "EmailAddress1": "grace@navy.example",
        "EmailAddress2": "ghopper@example.org",
        "EmailAddress3": "amazing.grace@example.net",
    },
    "PhoneNumbers": {
        "BusinessPhone": "+1 555 0100",
        "MobilePhone": "+1 555 0199",
        "HomePhone": "+1 555 0142",
    },
    "PhysicalAddresses": {
        "Business": {
            "Street": "1 Navy Way",
            "City": "Arlington",
            "State": "VA",
            "CountryOrRegion": "USA",
            "PostalCode": "22202",
        },
        "Home": {
            "Street": "5 Elm St",
            "City": "New York",
            "State": "NY",
            "CountryOrRegion": "USA",
            "PostalCode": "10001",
        },
    },
    "Categories": ["VIP", "Pioneers"],
    "Body": "Invented the first compiler.",
}


def test_an_exchange_contact_arrives_with_every_field_and_its_account(ews) -> None:
    # given a contact in Exchange and one CRM account named like its company
    mailbox = emulated_mailbox(ews)
    account = make_account(name="Navy Labs")
    ews.control.create_item(mailbox.email_address, "contact", FULL_CONTACT)

    # when the mailbox syncs
    result = sync(mailbox)

    # then the CRM has the contact with all its entries, linked to the account
    contact = Contact.objects.get(owner_user=mailbox.user)
    assert (contact.first_name, contact.middle_name, contact.last_name) == ("Grace", "B.", "Hopper")
    assert (contact.job_title, contact.department) == ("Rear Admiral", "Research")
    assert [contact.email_address1, contact.email_address2, contact.email_address3] == [
        "grace@navy.example",
        "ghopper@example.org",
        "amazing.grace@example.net",
    ]
    assert contact.phone_numbers == {
        "business": "+1 555 0100",
        "mobile": "+1 555 0199",
        "home": "+1 555 0142",
    }
    assert contact.addresses["business"] == {
        "street": "1 Navy Way",
        "city": "Arlington",
        "state": "VA",
        "postal_code": "22202",
        "country": "USA",
    }
    assert contact.addresses["home"]["city"] == "New York"
    assert sorted(contact.categories) == ["Pioneers", "VIP"]
    assert contact.notes == "Invented the first compiler."
    assert contact.account == account
    assert contact.change_origin == ChangeOrigin.SYNC
    assert contact.change_origin_mailbox == mailbox
    assert result.items_processed >= 1
    assert (
        ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, object_type=ItemType.CONTACT).count()
        == 1
    )


def test_no_account_link_when_several_accounts_match(ews) -> None:
    mailbox = emulated_mailbox(ews)
    make_account(name="Acme")
    make_account(name="ACME")
    ews.control.create_item(
        mailbox.email_address,
        "contact",
        {"GivenName": "Wile", "Surname": "Coyote", "CompanyName": "Acme"},
    )

    sync(mailbox)

    contact = Contact.objects.get(owner_user=mailbox.user)
    assert contact.company_name == "Acme"
    assert contact.account is None


def test_a_crm_contact_reaches_exchange_with_every_field(ews) -> None:
    mailbox = emulated_mailbox(ews)
    make_contact(
        owner_user=mailbox.user,
        first_name="Ada",
        last_name="Lovelace",
        job_title="Analyst",
        company_name="Engines Ltd",
        email_address1="ada@engines.example",
        email_address2="countess@example.org",
        phone_numbers={"business": "+44 20 0000", "mobile": "+44 77 0000"},
        addresses={
            "home": {
                "street": "12 St James's Sq",
                "city": "London",
                "state": "",
                "postal_code": "SW1",
                "country": "UK",
            }
        },
        categories=["Math"],
        notes="Wrote the first program.",
    )

    sync(mailbox)

    (summary,) = ews.control.items(mailbox.email_address, "contacts")
    fields = ews.control.item(summary["id"])["xml"]
    for text in (
        "Ada",
        "Lovelace",
        "Analyst",
        "Engines Ltd",
        "ada@engines.example",
        "countess@example.org",
        "+44 20 0000",
        "+44 77 0000",
        "12 St James",
        "London",
        "SW1",
        "Math",
        "Wrote the first program.",
    ):
        assert text in fields
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox)
    assert mapping.exchange_item_id == summary["id"]


def test_a_second_cycle_echoes_nothing_and_creates_no_duplicate(ews) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.create_item(
        mailbox.email_address, "contact", {"GivenName": "Alan", "Surname": "Turing"}
    )
    make_contact(
        owner_user=mailbox.user,
        first_name="Katherine",
        last_name="Johnson",
        email_address1="kj@nasa.example",
    )
    sync(mailbox)
    keys = {s["id"]: s["change_key"] for s in ews.control.items(mailbox.email_address, "contacts")}

    second = sync(mailbox)
    third = sync(mailbox)

    assert Contact.objects.filter(owner_user=mailbox.user).count() == 2
    assert {
        s["id"]: s["change_key"] for s in ews.control.items(mailbox.email_address, "contacts")
    } == keys
    assert third.items_processed == 0
    assert second.error is None
