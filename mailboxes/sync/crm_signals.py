"""CRM changes that concern a mailbox's sync: a user's change makes the owner's mailbox
due (so an idle back-off never delays it), a deletion marks the record's mappings so the
next push deletes or unlinks the Exchange item."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from activities.models import Appointment, ChangeOrigin, Contact, Task
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, Mailbox

SYNCED_MODELS = (Appointment, Contact, Task)


def _owner_mailboxes(instance: Any) -> Any:
    if instance.owner_user_id is not None:
        return Mailbox.objects.filter(user_id=instance.owner_user_id)
    return Mailbox.objects.filter(queue_id=instance.owner_queue_id)


def _make_due(instance: Any) -> None:
    now = timezone.now()
    # Only pulls the next run forward; never postpones, never overrides a back-off.
    _owner_mailboxes(instance).filter(next_due_at__gt=now).filter(
        Q(act_postpone_until__isnull=True) | Q(act_postpone_until__lte=now)
    ).update(next_due_at=now)


@receiver(post_save, dispatch_uid="crmsync_sync_crm_saved")
def crm_record_saved(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or sender not in SYNCED_MODELS:
        return
    if instance.change_origin == ChangeOrigin.SYNC:
        return
    _make_due(instance)


@receiver(post_delete, dispatch_uid="crmsync_sync_crm_deleted")
def crm_record_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    if sender not in SYNCED_MODELS:
        return
    updated = ExchangeSyncIdMapping.objects.filter(
        crm_content_type=ContentType.objects.get_for_model(sender), crm_object_id=instance.pk
    ).update(from_crm_change_type=ChangeType.DELETE)
    if updated:
        _make_due(instance)
