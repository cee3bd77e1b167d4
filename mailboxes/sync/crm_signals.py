"""CRM changes that concern a mailbox's sync: a user's change makes the owner's mailbox
due (so an idle back-off never delays it), a deletion marks the record's mappings so the
next push deletes or unlinks the Exchange item, and an email waiting to be sent makes the
mailbox that sends it due."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from activities.models import Appointment, ChangeOrigin, Contact, Email, OwnedRecord, Task
from mailboxes import channels
from mailboxes.models import ChangeType, ExchangeSyncIdMapping, Mailbox

SYNCED_MODELS = (Appointment, Contact, Task)


def _owner_mailboxes(instance: OwnedRecord) -> QuerySet[Mailbox]:
    if instance.owner_user_id is not None:
        return Mailbox.objects.filter(user_id=instance.owner_user_id)
    if instance.owner_queue_id is not None:
        return Mailbox.objects.filter(queue_id=instance.owner_queue_id)
    return Mailbox.objects.none()  # no owner (the database refuses one): no mailbox


def _make_due(mailboxes: QuerySet[Mailbox], channel: channels.Channel = channels.ACT) -> int:
    now = timezone.now()
    postpone_field = channel.postpone_field
    # Only pulls the next run forward; never postpones, never overrides a back-off.
    return (
        mailboxes.filter(next_due_at__gt=now)
        .filter(Q(**{f"{postpone_field}__isnull": True}) | Q(**{f"{postpone_field}__lte": now}))
        .update(next_due_at=now)
    )


def _sending_mailboxes(email: Email) -> QuerySet[Mailbox]:
    """The mailbox an outgoing email goes out through: its own, else its owner's."""
    if email.mailbox_id is not None:
        return Mailbox.objects.filter(id=email.mailbox_id)
    return _owner_mailboxes(email)


def make_senders_due(emails: QuerySet[Email]) -> int:
    """Emails just made pending ("send again"): their sending mailboxes run next dispatch."""
    made = 0
    for email in emails.only("mailbox_id", "owner_user_id", "owner_queue_id"):
        made += _make_due(_sending_mailboxes(email), channels.OUTGOING)
    return made


@receiver(post_save, dispatch_uid="crmsync_sync_crm_saved")
def crm_record_saved(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or sender not in SYNCED_MODELS:
        return
    if instance.change_origin == ChangeOrigin.SYNC:
        return
    _make_due(_owner_mailboxes(instance))


@receiver(post_save, sender=Email, dispatch_uid="crmsync_sync_email_to_send_saved")
def email_to_send_saved(sender: type, instance: Email, raw: bool = False, **kwargs: Any) -> None:
    """A new email to send (or one put back to pending) is sent at the next dispatch, not
    after the mailbox's idle back-off; a server's back-off for sending is kept."""
    if raw or instance.direction != Email.Direction.OUTGOING:
        return
    if instance.status != Email.Status.PENDING_SEND:
        return
    _make_due(_sending_mailboxes(instance), channels.OUTGOING)


# Connected to the synced models only: a delete receiver for every model would make Django
# read each row before deleting it (no fast delete) wherever rows are deleted, a sync
# cycle's bookkeeping included.
@receiver(post_delete, sender=Appointment, dispatch_uid="crmsync_sync_appointment_deleted")
@receiver(post_delete, sender=Contact, dispatch_uid="crmsync_sync_contact_deleted")
@receiver(post_delete, sender=Task, dispatch_uid="crmsync_sync_task_deleted")
def crm_record_deleted(sender: type, instance: Appointment | Contact | Task, **kwargs: Any) -> None:
    updated = ExchangeSyncIdMapping.objects.filter(
        crm_content_type=ContentType.objects.get_for_model(sender), crm_object_id=instance.pk
    ).update(from_crm_change_type=ChangeType.DELETE)
    if updated:
        _make_due(_owner_mailboxes(instance))
