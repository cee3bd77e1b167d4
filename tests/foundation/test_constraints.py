"""The database and model validation keep the sync entities consistent."""

from collections.abc import Callable

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from activities.models import Account, Appointment, Contact, Email, OwnedRecord, Task
from mailboxes.models import (
    MAX_TRACKING_FOLDERS,
    ExchangeSyncIdMapping,
    Mailbox,
    MailboxTrackingFolder,
)
from tests import factories

OWNED_MODELS: dict[type[OwnedRecord], Callable[..., OwnedRecord]] = {
    Account: factories.make_account,
    Contact: factories.make_contact,
    Email: factories.make_email,
    Appointment: factories.make_appointment,
    Task: factories.make_task,
}


def test_mailbox_with_a_user_and_a_queue_is_refused(db: None) -> None:
    user, queue = factories.make_user(), factories.make_queue()

    with pytest.raises(IntegrityError), transaction.atomic():
        Mailbox.objects.create(user=user, queue=queue, email_address="both@example.com")

    assert not Mailbox.objects.filter(email_address="both@example.com").exists()


def test_mailbox_without_an_owner_is_refused(db: None) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Mailbox.objects.create(email_address="nobody@example.com")

    assert not Mailbox.objects.filter(email_address="nobody@example.com").exists()


def test_mailbox_validation_names_the_owner_rule(db: None) -> None:
    mailbox = Mailbox(email_address="nobody@example.com")

    with pytest.raises(ValidationError, match="exactly one user or one queue"):
        mailbox.full_clean()


@pytest.mark.parametrize("model", OWNED_MODELS, ids=lambda model: model.__name__)
def test_activity_with_a_user_and_a_queue_as_owner_is_refused(
    db: None, model: type[OwnedRecord]
) -> None:
    make = OWNED_MODELS[model]
    user, queue = factories.make_user(), factories.make_queue()

    with pytest.raises(IntegrityError), transaction.atomic():
        make(owner_user=user, owner_queue=queue)

    assert model._default_manager.count() == 0


@pytest.mark.parametrize("model", OWNED_MODELS, ids=lambda model: model.__name__)
def test_activity_without_an_owner_is_refused(db: None, model: type[OwnedRecord]) -> None:
    make = OWNED_MODELS[model]

    with pytest.raises(IntegrityError), transaction.atomic():
        make(owner_user=None)

    assert model._default_manager.count() == 0


@pytest.mark.parametrize("model", OWNED_MODELS, ids=lambda model: model.__name__)
def test_activity_owned_by_a_queue_is_accepted(db: None, model: type[OwnedRecord]) -> None:
    queue = factories.make_queue()

    row = OWNED_MODELS[model](owner_queue=queue)

    assert model._default_manager.get(pk=row.pk).owner == queue


def test_second_mailbox_for_a_user_is_refused(db: None) -> None:
    mailbox = factories.make_mailbox()

    with pytest.raises(IntegrityError), transaction.atomic():
        Mailbox.objects.create(user=mailbox.user, email_address="again@example.com")

    assert Mailbox.objects.filter(user=mailbox.user).count() == 1


def test_second_mailbox_for_a_queue_is_refused(db: None) -> None:
    mailbox = factories.make_mailbox(queue=factories.make_queue())

    with pytest.raises(IntegrityError), transaction.atomic():
        Mailbox.objects.create(queue=mailbox.queue, email_address="again@example.com")

    assert Mailbox.objects.filter(queue=mailbox.queue).count() == 1


def test_second_mapping_of_an_exchange_item_in_a_mailbox_is_refused(db: None) -> None:
    mapping = factories.make_mapping(exchange_item_id="AAMkSame")

    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_mapping(mailbox=mapping.mailbox, exchange_item_id="AAMkSame")

    assert ExchangeSyncIdMapping.objects.filter(exchange_item_id="AAMkSame").count() == 1


def test_second_mapping_of_a_crm_record_in_a_mailbox_is_refused(db: None) -> None:
    appointment = factories.make_appointment()
    mapping = factories.make_mapping(crm_object=appointment)

    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_mapping(mailbox=mapping.mailbox, crm_object=appointment)

    assert ExchangeSyncIdMapping.objects.filter(crm_object_id=appointment.pk).count() == 1


def test_same_exchange_item_and_crm_record_may_be_mapped_in_two_mailboxes(db: None) -> None:
    # given a shared meeting: the same item id and CRM record, seen from two mailboxes
    appointment = factories.make_appointment()
    factories.make_mapping(crm_object=appointment, exchange_item_id="AAMkShared")

    factories.make_mapping(crm_object=appointment, exchange_item_id="AAMkShared")

    content_type = ContentType.objects.get_for_model(Appointment)
    mappings = ExchangeSyncIdMapping.objects.filter(
        crm_content_type=content_type, crm_object_id=appointment.pk
    )
    assert mappings.values("mailbox").distinct().count() == 2


def test_tracking_folder_up_to_the_limit_is_valid(db: None) -> None:
    mailbox = factories.make_mailbox()
    for _ in range(MAX_TRACKING_FOLDERS - 1):
        factories.make_tracking_folder(mailbox=mailbox)

    last = MailboxTrackingFolder(
        mailbox=mailbox, exchange_folder_id="AAMkLast", exchange_folder_name="Last"
    )
    last.full_clean()

    assert MAX_TRACKING_FOLDERS == 25


def test_tracking_folder_past_the_limit_fails_validation(db: None) -> None:
    mailbox = factories.make_mailbox()
    for _ in range(MAX_TRACKING_FOLDERS):
        factories.make_tracking_folder(mailbox=mailbox)

    extra = MailboxTrackingFolder(
        mailbox=mailbox, exchange_folder_id="AAMkExtra", exchange_folder_name="Extra"
    )
    with pytest.raises(ValidationError) as raised:
        extra.full_clean()

    assert raised.value.error_dict["__all__"][0].code == "too_many_tracking_folders"


def test_tracking_folder_limit_counts_per_mailbox(db: None) -> None:
    full = factories.make_mailbox()
    for _ in range(MAX_TRACKING_FOLDERS):
        factories.make_tracking_folder(mailbox=full)
    other = factories.make_mailbox()

    folder = MailboxTrackingFolder(
        mailbox=other, exchange_folder_id="AAMkOther", exchange_folder_name="Other"
    )
    folder.full_clean()

    assert other.tracking_folders.count() == 0


def test_existing_tracking_folder_at_the_limit_can_still_be_edited(db: None) -> None:
    mailbox = factories.make_mailbox()
    folders = [factories.make_tracking_folder(mailbox=mailbox) for _ in range(MAX_TRACKING_FOLDERS)]

    folders[0].exchange_folder_name = "Renamed"
    folders[0].full_clean()
    folders[0].save()

    assert mailbox.tracking_folders.filter(exchange_folder_name="Renamed").count() == 1
