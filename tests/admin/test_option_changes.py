"""The admin mailbox page asks before saving an option change that exports or imports
records, in the words the self-service page uses (`mailboxes.sync.option_changes`)."""

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailboxes.models import ItemType, Mailbox
from tests import factories
from tests.foundation.html_forms import form_data

SENTENCE = "1 appointment will be exported to Exchange without invitations."


def appointments_off(mailbox: Mailbox) -> None:
    mailbox.sync_options.filter(item_type=ItemType.APPOINTMENT).update(crm_to_exchange=False)


def switch_appointments_on(client: Client, mailbox: Mailbox, *, confirm: bool) -> tuple[int, str]:
    url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
    data = form_data(client.get(url).content.decode(), "mailbox_form")
    index = next(
        i for i in range(3) if data[f"sync_options-{i}-item_type"] == [ItemType.APPOINTMENT]
    )
    data[f"sync_options-{index}-crm_to_exchange"] = ["on"]
    if confirm:
        data[f"sync_options-{index}-confirm_change"] = ["on"]
    response = client.post(url, data)
    return response.status_code, response.content.decode()


def test_switching_crm_to_exchange_on_asks_first_and_saves_nothing(
    staff_client: Client, db: None
) -> None:
    # given a mailbox whose appointments do not go to Exchange, and a meeting in the CRM
    mailbox = factories.make_mailbox()
    appointments_off(mailbox)
    factories.make_appointment(owner_user=mailbox.user)

    # when an administrator switches CRM → Exchange on without confirming
    status, page = switch_appointments_on(staff_client, mailbox, confirm=False)

    # then the page says what the change does, and the option stays off
    assert status == 200
    assert SENTENCE in page
    assert "Tick “Save what this change does” to save it." in page
    options = mailbox.sync_options.get(item_type=ItemType.APPOINTMENT)
    assert (options.crm_to_exchange, options.export_pending) == (False, False)


def test_a_confirmed_change_is_saved_and_left_to_the_next_cycle(
    staff_client: Client, db: None
) -> None:
    mailbox = factories.make_mailbox()
    appointments_off(mailbox)
    factories.make_appointment(owner_user=mailbox.user)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=timezone.now() + timedelta(hours=1))
    before = timezone.now()

    status, page = switch_appointments_on(staff_client, mailbox, confirm=True)

    assert status == 302, page
    options = mailbox.sync_options.get(item_type=ItemType.APPOINTMENT)
    assert (options.crm_to_exchange, options.export_pending) == (True, True)
    # what the CRM held before the change is exported without invitations
    assert options.invitations_from is not None
    assert before <= options.invitations_from <= timezone.now() + timedelta(seconds=1)
    mailbox.refresh_from_db()
    assert mailbox.next_due_at is not None and mailbox.next_due_at <= timezone.now()


def test_a_change_that_exports_nothing_needs_no_confirmation(
    staff_client: Client, db: None
) -> None:
    # given no appointment in the CRM: switching on exports nothing
    mailbox = factories.make_mailbox()
    appointments_off(mailbox)

    status, page = switch_appointments_on(staff_client, mailbox, confirm=False)

    assert status == 302, page
    assert mailbox.sync_options.get(item_type=ItemType.APPOINTMENT).crm_to_exchange
