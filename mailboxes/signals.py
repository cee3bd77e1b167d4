from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from mailboxes.models import Mailbox, Queue
from mailboxes.provisioning import ensure_queue_mailbox, ensure_sync_options, ensure_user_mailbox
from users.models import User


@receiver(post_save, sender=User, dispatch_uid="user_automatic_mailbox")
def give_user_a_mailbox(sender: type[User], instance: User, raw: bool, **kwargs: Any) -> None:
    if raw:  # loading fixtures
        return
    if not hasattr(instance, "mailbox"):
        ensure_user_mailbox(instance)


@receiver(post_save, sender=Queue, dispatch_uid="queue_automatic_mailbox")
def give_queue_a_mailbox(sender: type[Queue], instance: Queue, raw: bool, **kwargs: Any) -> None:
    if raw:
        return
    if not hasattr(instance, "mailbox"):
        ensure_queue_mailbox(instance)


@receiver(post_save, sender=Mailbox, dispatch_uid="mailbox_sync_options")
def give_mailbox_its_options(
    sender: type[Mailbox], instance: Mailbox, created: bool, raw: bool, **kwargs: Any
) -> None:
    if created and not raw:
        ensure_sync_options(instance)
