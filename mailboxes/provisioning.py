"""Gives users and queues their mailbox, and every mailbox its per-type options."""

from crmsync.choices import ActDeliveryMethod
from mailboxes.models import ItemTypeSyncOptions, Mailbox, Queue
from profiles.models import EmailServerProfile
from users.models import User


def default_profile() -> EmailServerProfile | None:
    return EmailServerProfile.objects.filter(is_default=True, is_active=True).first()


def ensure_sync_options(mailbox: Mailbox) -> None:
    existing = set(mailbox.sync_options.values_list("item_type", flat=True))
    ItemTypeSyncOptions.objects.bulk_create(
        [
            ItemTypeSyncOptions(mailbox=mailbox, item_type=item_type)
            for item_type in ItemTypeSyncOptions.SYNCED_TYPES
            if item_type not in existing
        ],
        ignore_conflicts=True,
    )


def ensure_user_mailbox(user: User) -> Mailbox | None:
    """A user on server-side sync with an email address gets a mailbox on the default profile."""
    if not user.uses_server_side_sync or not user.email:
        return None
    mailbox, _ = Mailbox.objects.get_or_create(
        user=user,
        defaults={
            "name": user.get_full_name() or user.username,
            "email_address": user.email,
            "profile": default_profile(),
            "incoming_delivery_method": user.incoming_delivery_method,
            "outgoing_delivery_method": user.outgoing_delivery_method,
            "act_delivery_method": user.act_delivery_method,
        },
    )
    return mailbox


def ensure_queue_mailbox(queue: Queue) -> Mailbox | None:
    """A queue on server-side sync with an email address gets a mailbox on the default profile."""
    if not queue.uses_server_side_sync or not queue.email_address:
        return None
    mailbox, _ = Mailbox.objects.get_or_create(
        queue=queue,
        defaults={
            "name": queue.name,
            "email_address": queue.email_address,
            "profile": default_profile(),
            "incoming_delivery_method": queue.incoming_delivery_method,
            "outgoing_delivery_method": queue.outgoing_delivery_method,
            # A queue is a shared inbox: it has no calendar, contacts or tasks of its own.
            "act_delivery_method": ActDeliveryMethod.NONE,
        },
    )
    return mailbox
