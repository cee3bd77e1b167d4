"""Pending manual conflicts: both versions side by side, then keep CRM or keep Exchange."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import Task
from mailboxes.itemtypes.tasks import TaskType
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, Mailbox
from tests import factories
from tests.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

Decision = ExchangeSyncIdMapping.UserDecision
CHANGELIST = "admin:mailboxes_pendingconflict_changelist"


def conflict(**fields: Any) -> tuple[ExchangeSyncIdMapping, Task]:
    """A task both sides changed: CRM says "Call Ann", Exchange says "Call Ann back"."""
    mailbox = fields.pop("mailbox", None) or factories.make_mailbox(
        approval_status=Mailbox.ApprovalStatus.APPROVED
    )
    task = factories.make_task(owner_user=mailbox.user, subject="Call Ann", priority="normal")
    crm = TaskType().record_canonical(task)
    exchange = {**crm, "subject": "Call Ann back", "priority": "high"}
    fields.setdefault("user_decision", Decision.PENDING)
    mapping = factories.make_mapping(
        mailbox=mailbox,
        crm_object=task,
        object_type="task",
        crm_snapshot=crm,
        exchange_snapshot=exchange,
        **fields,
    )
    return mapping, task


def decide_url(mapping: ExchangeSyncIdMapping) -> str:
    return reverse("admin:mailboxes_pendingconflict_decide", args=[mapping.pk])


def test_the_list_holds_pending_conflicts_only_with_the_fields_that_differ(
    staff_client: Client,
) -> None:
    pending, _ = conflict()
    conflict(user_decision=Decision.KEEP_CRM)
    conflict(user_decision=Decision.NONE)

    response = staff_client.get(reverse(CHANGELIST))

    assert [row.pk for row in response.context["cl"].result_list] == [pending.pk]
    assert '<td class="field-differences">subject, priority</td>' in response.content.decode()


def test_the_page_shows_both_versions_side_by_side_and_the_two_buttons(
    staff_client: Client,
) -> None:
    mapping, _ = conflict()

    response = staff_client.get(
        reverse("admin:mailboxes_pendingconflict_change", args=[mapping.pk])
    )

    page = response.content.decode()
    assert (
        '<tr class="differs"><th scope="row">subject</th><td>Call Ann</td>'
        "<td>Call Ann back</td></tr>"
    ) in page
    priority = '<tr class="differs"><th scope="row">priority</th><td>normal</td><td>high</td></tr>'
    assert priority in page
    assert '<tr class="same"><th scope="row">status</th>' in page
    assert f'action="{decide_url(mapping)}"' in page
    assert 'value="keep_crm">Keep the CRM version</button>' in page
    assert 'value="keep_exchange">Keep the Exchange version</button>' in page
    # Nothing here is edited through the form.
    assert 'name="_save"' not in page


def test_keep_crm_marks_the_record_for_the_next_push_and_makes_the_mailbox_due(
    staff_client: Client,
) -> None:
    mapping, task = conflict()

    response = staff_client.post(decide_url(mapping), {"decision": "keep_crm"}, follow=True)

    assert messages_of(response) == ["1 conflict settled: keep the CRM version."]
    mapping.refresh_from_db()
    assert mapping.user_decision == Decision.KEEP_CRM
    assert mapping.from_crm_change_type == ChangeType.UPDATE
    assert mapping.crm_snapshot is None and mapping.exchange_snapshot is None
    assert Task.objects.get(pk=task.pk).subject == "Call Ann"
    assert Mailbox.objects.get(pk=mapping.mailbox_id).next_due_at is not None


def test_keep_exchange_action_writes_the_exchange_version_into_the_crm(
    staff_client: Client,
) -> None:
    first, first_task = conflict()
    second, second_task = conflict()

    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "keep_exchange", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert messages_of(response) == ["2 conflicts settled: keep the Exchange version."]
    for mapping, task in ((first, first_task), (second, second_task)):
        mapping.refresh_from_db()
        task.refresh_from_db()
        assert mapping.user_decision == Decision.KEEP_EXCHANGE
        assert (task.subject, task.priority) == ("Call Ann back", "high")
    assert ExchangeSyncIdMapping.objects.filter(user_decision=Decision.PENDING).count() == 0


def test_an_unknown_decision_changes_nothing(staff_client: Client) -> None:
    mapping, _ = conflict()

    response = staff_client.post(decide_url(mapping), {"decision": "both"}, follow=True)

    assert "Choose “keep CRM” or “keep Exchange”." in messages_of(response)
    mapping.refresh_from_db()
    assert mapping.user_decision == Decision.PENDING


def test_a_settled_conflict_is_no_longer_decidable(staff_client: Client) -> None:
    mapping, _ = conflict(user_decision=Decision.KEEP_CRM)

    assert staff_client.post(decide_url(mapping), {"decision": "keep_exchange"}).status_code == 404
    mapping.refresh_from_db()
    assert mapping.user_decision == Decision.KEEP_CRM


def test_a_row_the_engine_refuses_is_reported_and_the_others_settle(
    staff_client: Client,
) -> None:
    # given a conflict whose Exchange version cannot be applied (its options are gone)
    good, _ = conflict()
    bad, _ = conflict()
    bad.mailbox.sync_options.filter(item_type="task").delete()

    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "keep_exchange", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )

    shown = messages_of(response)
    assert shown[0] == "1 conflict settled: keep the Exchange version."
    assert shown[1].startswith(f"Not settled: {bad}")
    assert ExchangeSyncIdMapping.objects.get(pk=bad.pk).user_decision == Decision.PENDING
