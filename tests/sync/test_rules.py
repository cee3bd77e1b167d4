"""Per-type options, conflict strategies, delete modes, recovery and error handling."""

import datetime as dt

import pytest
from django.utils import timezone

from activities.models import Appointment, Contact, Task
from mailboxes.models import Alert, ExchangeSyncIdMapping, FolderSyncState, ItemType, Mailbox
from mailboxes.sync.conflicts import apply_decision
from tests.factories import make_appointment, make_contact, make_task
from tests.sync.helpers import emulated_mailbox, options, sync

pytestmark = pytest.mark.django_db
Strategy = ExchangeSyncIdMapping._meta.get_field("user_decision")


def _synced_task(ews, **option_fields):
    mailbox = emulated_mailbox(ews)
    options(mailbox, ItemType.TASK, **option_fields)
    task = make_task(owner_user=mailbox.user, subject="Original")
    sync(mailbox)
    (summary,) = ews.control.items(mailbox.email_address, "tasks")
    return mailbox, task, summary["id"]


def _both_change(ews, mailbox, task, item_id, *, crm_first: bool):
    def crm():
        task.refresh_from_db()
        task.subject = "CRM version"
        task.change_origin = "crm_user"
        task.save()

    def exchange():
        ews.control.update_item(item_id, {"Subject": "Exchange version"})

    first, second = (crm, exchange) if crm_first else (exchange, crm)
    first()
    if crm_first:
        Task.objects.filter(pk=task.pk).update(modified_at=timezone.now() - dt.timedelta(minutes=1))
    second()
    if not crm_first:
        Task.objects.filter(pk=task.pk).update(modified_at=timezone.now() + dt.timedelta(minutes=1))


def _exchange_subject(ews, item_id):
    return ews.control.item(item_id)["fields"]["Subject"]


@pytest.mark.parametrize(
    ("strategy", "crm_first", "winner"),
    [
        ("crm_wins", False, "CRM version"),
        ("exchange_wins", True, "Exchange version"),
        ("most_recent_wins", True, "Exchange version"),
        ("most_recent_wins", False, "CRM version"),
    ],
)
def test_conflict_strategies(ews, strategy, crm_first, winner) -> None:
    mailbox, task, item_id = _synced_task(ews, conflict_strategy=strategy)
    _both_change(ews, mailbox, task, item_id, crm_first=crm_first)

    sync(mailbox)

    task.refresh_from_db()
    assert task.subject == winner
    assert _exchange_subject(ews, item_id) == winner


def test_manual_conflict_keeps_both_versions_until_decided(ews) -> None:
    mailbox, task, item_id = _synced_task(ews, conflict_strategy="manual")
    _both_change(ews, mailbox, task, item_id, crm_first=True)

    sync(mailbox)

    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox, object_type=ItemType.TASK)
    assert mapping.user_decision == "pending"
    assert mapping.crm_snapshot is not None and mapping.exchange_snapshot is not None
    assert mapping.crm_snapshot["subject"] == "CRM version"
    assert mapping.exchange_snapshot["subject"] == "Exchange version"
    task.refresh_from_db()
    assert task.subject == "CRM version"
    assert _exchange_subject(ews, item_id) == "Exchange version"

    apply_decision(mapping, "keep_crm")
    sync(mailbox)

    assert _exchange_subject(ews, item_id) == "CRM version"
    mapping.refresh_from_db()
    assert mapping.user_decision == "keep_crm"


def test_manual_decision_keep_exchange_writes_the_exchange_version(ews) -> None:
    mailbox, task, item_id = _synced_task(ews, conflict_strategy="manual")
    _both_change(ews, mailbox, task, item_id, crm_first=True)
    sync(mailbox)
    mapping = ExchangeSyncIdMapping.objects.get(mailbox=mailbox, object_type=ItemType.TASK)

    apply_decision(mapping, "keep_exchange")
    sync(mailbox)

    task.refresh_from_db()
    assert task.subject == "Exchange version"
    assert _exchange_subject(ews, item_id) == "Exchange version"


@pytest.mark.parametrize(
    ("mode", "in_deleted_items", "gone"),
    [("hard", False, True), ("soft", False, True), ("move_to_deleted_items", True, True)],
)
def test_crm_delete_uses_the_exchange_delete_mode(ews, mode, in_deleted_items, gone) -> None:
    mailbox, task, _ = _synced_task(ews, exchange_delete_mode=mode)

    task.delete()
    sync(mailbox)

    assert ews.control.items(mailbox.email_address, "tasks") == []
    deleted = [i["id"] for i in ews.control.items(mailbox.email_address, "deleteditems")]
    assert (len(deleted) == 1) is in_deleted_items
    assert not ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).exists()


def test_crm_delete_is_not_propagated_when_disabled(ews) -> None:
    mailbox, task, item_id = _synced_task(ews, delete_crm_to_exchange=False)
    task.delete()
    sync(mailbox)
    assert [i["id"] for i in ews.control.items(mailbox.email_address, "tasks")] == [item_id]
    assert not ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).exists()


def test_exchange_delete_reaches_the_crm_only_when_enabled(ews) -> None:
    kept_box, kept, kept_id = _synced_task(ews)  # default: delete_exchange_to_crm off
    gone_box, gone, gone_id = _synced_task(ews, delete_exchange_to_crm=True)

    ews.control.delete_item(kept_id)
    ews.control.delete_item(gone_id)
    sync(kept_box)
    sync(gone_box)

    assert Task.objects.filter(pk=kept.pk).exists()
    assert ExchangeSyncIdMapping.objects.get(mailbox=kept_box).is_deleted_in_exchange
    assert not Task.objects.filter(pk=gone.pk).exists()


def test_directions_and_disabled_types(ews) -> None:
    mailbox = emulated_mailbox(ews)
    options(mailbox, ItemType.CONTACT, crm_to_exchange=False)
    options(mailbox, ItemType.TASK, exchange_to_crm=False)
    options(mailbox, ItemType.APPOINTMENT, is_enabled=False)
    make_contact(owner_user=mailbox.user, last_name="StaysInCrm")
    make_task(owner_user=mailbox.user, subject="Goes to Exchange")
    make_appointment(owner_user=mailbox.user, subject="Not synced")
    ews.control.create_item(
        mailbox.email_address, "contact", {"GivenName": "Comes", "Surname": "In"}
    )
    ews.control.create_item(mailbox.email_address, "task", {"Subject": "Stays in Exchange"})
    ews.control.create_item(
        mailbox.email_address,
        "calendar",
        {"Subject": "Ignored", "Start": "2030-01-01T10:00:00Z", "End": "2030-01-01T11:00:00Z"},
    )

    sync(mailbox)

    assert sorted(
        Contact.objects.filter(owner_user=mailbox.user).values_list("last_name", flat=True)
    ) == ["In", "StaysInCrm"]
    assert [i["subject"] for i in ews.control.items(mailbox.email_address, "contacts")] == [
        "In, Comes"
    ]
    assert sorted(i["subject"] for i in ews.control.items(mailbox.email_address, "tasks")) == [
        "Goes to Exchange",
        "Stays in Exchange",
    ]
    assert list(Task.objects.filter(owner_user=mailbox.user).values_list("subject", flat=True)) == [
        "Goes to Exchange"
    ]
    assert list(
        Appointment.objects.filter(owner_user=mailbox.user).values_list("subject", flat=True)
    ) == ["Not synced"]
    assert [i["subject"] for i in ews.control.items(mailbox.email_address, "calendar")] == [
        "Ignored"
    ]


def test_categories_stamp_sync_from_and_contact_export_scope(ews) -> None:
    mailbox = emulated_mailbox(ews)
    options(mailbox, ItemType.TASK, categories=["CRM"])
    options(mailbox, ItemType.APPOINTMENT, sync_from=dt.date(2030, 1, 1))
    options(
        mailbox,
        ItemType.CONTACT,
        contact_export_scope="selected_categories",
        contact_export_categories=["Export"],
    )
    task = make_task(owner_user=mailbox.user, subject="Stamped")
    make_contact(owner_user=mailbox.user, last_name="Exported", categories=["Export"])
    make_contact(owner_user=mailbox.user, last_name="Private")
    make_appointment(
        owner_user=mailbox.user, subject="Old", start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    make_appointment(
        owner_user=mailbox.user, subject="New", start=dt.datetime(2030, 2, 1, tzinfo=dt.UTC)
    )
    ews.control.create_item(
        mailbox.email_address,
        "calendar",
        {
            "Subject": "Old in Exchange",
            "Start": "2021-01-01T10:00:00Z",
            "End": "2021-01-01T11:00:00Z",
        },
    )

    sync(mailbox)
    sync(mailbox)

    (item,) = ews.control.items(mailbox.email_address, "tasks")
    assert "CRM" in ews.control.item(item["id"])["xml"]
    task.refresh_from_db()
    assert task.categories == []  # our stamp does not flow back
    assert [i["subject"] for i in ews.control.items(mailbox.email_address, "contacts")] == [
        "Exported, Ada"
    ]
    assert sorted(i["subject"] for i in ews.control.items(mailbox.email_address, "calendar")) == [
        "New",
        "Old in Exchange",
    ]
    assert not Appointment.objects.filter(subject="Old in Exchange").exists()


def test_invalid_sync_state_recovers_without_duplicates(ews) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "contacts", 5)
    make_contact(owner_user=mailbox.user, last_name="FromCrm")
    ews.control.seed(mailbox.email_address, "tasks", 3)
    sync(mailbox)
    ews.control.seed(mailbox.email_address, "tasks", 1, fields={"Subject": "After the loss"})
    first_task = ews.control.items(mailbox.email_address, "tasks")[0]["id"]
    ews.control.delete_item(first_task)
    ews.control.inject_fault(
        "invalid_sync_state", operation="SyncFolderItems", mailbox=mailbox.email_address, count=1
    )

    sync(mailbox)

    assert Contact.objects.filter(owner_user=mailbox.user).count() == 6
    assert (
        ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, object_type=ItemType.CONTACT).count()
        == 6
    )
    assert len(ews.control.items(mailbox.email_address, "contacts")) == 6
    subjects = sorted(
        Task.objects.filter(owner_user=mailbox.user).values_list("subject", flat=True)
    )
    assert subjects.count("After the loss") == 1
    assert len(subjects) == 4  # deleted one kept in the CRM (delete to CRM is off), no duplicates
    assert (
        ExchangeSyncIdMapping.objects.filter(
            mailbox=mailbox, object_type=ItemType.TASK, is_deleted_in_exchange=True
        ).count()
        == 1
    )


def test_full_resync_matches_existing_records(ews) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "calendar", 4)
    sync(mailbox)
    FolderSyncState.objects.filter(mailbox=mailbox).delete()
    ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).delete()  # even the mappings are lost

    sync(mailbox, full_resync=True)

    assert Appointment.objects.filter(owner_user=mailbox.user).count() == 4
    assert len(ews.control.items(mailbox.email_address, "calendar")) == 4
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 4


def test_server_busy_postpones_by_the_hint(ews) -> None:
    mailbox = emulated_mailbox(ews)
    ews.control.inject_fault(
        "server_busy", mailbox=mailbox.email_address, back_off_ms=90_000, count=1
    )
    before = timezone.now()

    result = sync(mailbox, allow_error=True)

    assert result.error is not None and result.error.code == "ErrorServerBusy"
    mailbox.refresh_from_db()
    assert mailbox.act_status == Mailbox.ChannelStatus.NOT_RUN
    assert mailbox.transient_failure_count == 1
    assert mailbox.next_due_at is not None
    delay = (mailbox.next_due_at - before).total_seconds()
    assert 89 <= delay <= 95
    assert mailbox.act_postpone_until == mailbox.next_due_at
    assert not Alert.objects.filter(mailbox=mailbox).exists()


def test_a_throttled_sync_waits_for_the_hint_then_completes(ews) -> None:
    # given a mailbox whose server throttles the GetItem of the first page
    mailbox = emulated_mailbox(ews)
    ews.control.seed(mailbox.email_address, "calendar", 30)
    ews.control.inject_fault(
        "server_busy",
        operation="GetItem",
        mailbox=mailbox.email_address,
        back_off_ms=45_000,
        count=1,
    )
    before = timezone.now()

    # when it syncs, the cycle stops and the mailbox waits as long as the server asked
    result = sync(mailbox, allow_error=True)
    assert result.error is not None and result.error.code == "ErrorServerBusy"
    mailbox.refresh_from_db()
    assert mailbox.act_status == Mailbox.ChannelStatus.NOT_RUN
    assert mailbox.act_postpone_until is not None
    assert 44 <= (mailbox.act_postpone_until - before).total_seconds() <= 50
    assert not Appointment.objects.filter(owner_user=mailbox.user).exists()

    # then, once the wait is over, the next cycle completes the sync and clears the failure
    sync(mailbox)
    assert Appointment.objects.filter(owner_user=mailbox.user).count() == 30
    assert mailbox.act_status == Mailbox.ChannelStatus.SUCCESS
    assert mailbox.transient_failure_count == 0
    assert not Alert.objects.filter(mailbox=mailbox).exists()


def test_transient_failures_in_a_row_fail_the_mailbox(ews, settings) -> None:
    settings.CRMSYNC_MAX_TRANSIENT_FAILURES = 2
    mailbox = emulated_mailbox(ews)
    ews.control.inject_fault("http_503", mailbox=mailbox.email_address, count=10)
    sync(mailbox, allow_error=True)
    sync(mailbox, allow_error=True)
    ews.control.clear_faults()
    mailbox.refresh_from_db()
    assert mailbox.act_status == Mailbox.ChannelStatus.FAILURE
    assert mailbox.next_due_at is None
    assert Alert.objects.filter(mailbox=mailbox).count() == 1


def test_wrong_password_fails_permanently_with_one_alert(ews) -> None:
    mailbox = emulated_mailbox(ews, password="wrong")

    result = sync(mailbox, allow_error=True)

    assert result.error is not None and result.error.permanent
    mailbox.refresh_from_db()
    assert mailbox.act_status == Mailbox.ChannelStatus.FAILURE
    assert mailbox.last_error_code == "authentication_failed"
    assert mailbox.next_due_at is None
    assert Alert.objects.filter(mailbox=mailbox).count() == 1
