"""A contact's phones that Graph has no property for (faxes, pager, assistant, other, car,
radio, callback, company main, ISDN, primary, telex, TTY/TDD) travel both ways through the
same engine as their MAPI properties."""

from __future__ import annotations

import pytest

from activities.models import ChangeOrigin, Contact
from tests.conftest import M365
from tests.graph_act.helpers import graph_mailbox, items_of
from tests.sync.helpers import sync

pytestmark = pytest.mark.django_db


def test_faxes_pager_assistant_and_other_phones_sync_both_ways(m365: M365) -> None:
    """Phones a Graph contact has no property for travel as their MAPI properties."""
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    (contact_id,) = control.seed(
        address,
        "contacts",
        1,
        fields={"PhoneNumbers": {"BusinessFax": "+1 555 0190", "Pager": "+1 555 0191"}},
    )
    sync(mailbox)
    (record,) = Contact.objects.filter(owner_user=mailbox.user)
    assert record.phone_numbers["business_fax"] == "+1 555 0190"
    assert record.phone_numbers["pager"] == "+1 555 0191"
    # CRM → Exchange: a fax removed, an assistant and another phone added
    phones = {k: v for k, v in record.phone_numbers.items() if k != "business_fax"}
    record.phone_numbers = {**phones, "assistant": "+1 555 0192", "other": "+1 555 0193"}
    record.change_origin, record.change_origin_mailbox = ChangeOrigin.CRM_USER, None
    record.save()
    sync(mailbox)
    (item,) = items_of(m365, mailbox, "contacts")
    stored = control.item(item["id"])["xml"]
    assert 'Key="BusinessFax"' not in stored
    for key, number in (
        ("Pager", "+1 555 0191"),
        ("AssistantPhone", "+1 555 0192"),
        ("OtherTelephone", "+1 555 0193"),
    ):
        assert f'Key="{key}">{number}<' in stored
    # Exchange → CRM again
    control.update_item(contact_id, {"PhoneNumbers": {"HomeFax": "+1 555 0194"}})
    sync(mailbox)
    record.refresh_from_db()
    assert record.phone_numbers.get("home_fax") == "+1 555 0194"


OTHER_PHONES = {  # EWS's PhoneNumbers key ⇄ the CRM's phone key
    "Callback": "callback",
    "CarPhone": "car",
    "CompanyMainPhone": "company_main",
    "Isdn": "isdn",
    "PrimaryPhone": "primary",
    "RadioPhone": "radio",
    "Telex": "telex",
    "TtyTddPhone": "tty_tdd",
}


def test_car_radio_callback_company_isdn_primary_telex_and_tty_phones_sync_both_ways(
    m365: M365,
) -> None:
    """The rest of EWS's PhoneNumbers entries travel as their MAPI properties too."""
    mailbox = graph_mailbox(m365)
    control, address = m365.tenant.control, mailbox.email_address
    numbers = {key: f"+1 555 02{n:02d}" for n, key in enumerate(OTHER_PHONES)}
    (contact_id,) = control.seed(address, "contacts", 1, fields={"PhoneNumbers": numbers})
    sync(mailbox)
    (record,) = Contact.objects.filter(owner_user=mailbox.user)
    assert {k: record.phone_numbers.get(k) for k in OTHER_PHONES.values()} == {
        OTHER_PHONES[key]: number for key, number in numbers.items()
    }
    # CRM → Exchange: the car phone removed, the telex changed
    phones = {k: v for k, v in record.phone_numbers.items() if k != "car"}
    record.phone_numbers = {**phones, "telex": "+1 555 0299"}
    record.change_origin, record.change_origin_mailbox = ChangeOrigin.CRM_USER, None
    record.save()
    sync(mailbox)
    stored = control.item(contact_id)["xml"]
    assert 'Key="CarPhone"' not in stored
    assert 'Key="Telex">+1 555 0299<' in stored
    assert 'Key="TtyTddPhone">+1 555 0207<' in stored
