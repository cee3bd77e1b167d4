from typing import Any

from django.db import models
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from crmsync.crypto import Ciphertext, DecryptionError, decrypt, stored_value
from mailboxes.models import Mailbox, Queue
from mailboxes.provisioning import ensure_queue_mailbox, ensure_sync_options, ensure_user_mailbox
from mailboxes.sync.credentials import lift_authentication_failures
from profiles.models import EmailServerProfile
from users.models import User

MAILBOX_CREDENTIALS = ("username", "password")
PROFILE_CREDENTIALS = (
    "incoming_username",
    "incoming_password",
    "outgoing_username",
    "outgoing_password",
)


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


def _credentials_changed(
    instance: models.Model, names: tuple[str, ...], update_fields: Any
) -> bool:
    """Whether `names` differ from the stored row; encrypted values are compared as stored
    when neither side was assigned (nothing is decrypted then)."""
    if instance.pk is None:
        return False
    if update_fields is not None and not set(names) & set(update_fields):
        return False
    old = type(instance)._default_manager.filter(pk=instance.pk).values_list(*names).first()
    if old is None:
        return False
    return any(
        _differs(before, stored_value(instance, n)) for n, before in zip(names, old, strict=True)
    )


def _differs(before: Any, now: Any) -> bool:
    if isinstance(now, Ciphertext) or not isinstance(before, Ciphertext):
        return bool(before != now)
    try:
        return bool(decrypt(before) != now)
    except DecryptionError:
        return True  # the old one cannot be read: the new one is new


def _restart_on_new_credentials(
    model: type[models.Model], names: tuple[str, ...], mailboxes_of: Any
) -> None:
    """Saving `model` with other values of `names` lifts the authentication failures of
    `mailboxes_of(instance)` (compared with the stored row before the save)."""

    def note(sender: Any, instance: Any, raw: bool, update_fields: Any, **kwargs: Any) -> None:
        if not raw:
            instance._credentials_changed = _credentials_changed(instance, names, update_fields)

    def restart(sender: Any, instance: Any, raw: bool, **kwargs: Any) -> None:
        if getattr(instance, "_credentials_changed", False):
            instance._credentials_changed = False
            lift_authentication_failures(mailboxes_of(instance))

    label = model._meta.label_lower
    pre_save.connect(note, sender=model, weak=False, dispatch_uid=f"{label}_credentials_changed")
    post_save.connect(restart, sender=model, weak=False, dispatch_uid=f"{label}_credentials_saved")


_restart_on_new_credentials(
    Mailbox, MAILBOX_CREDENTIALS, lambda mailbox: Mailbox.objects.filter(pk=mailbox.pk)
)
_restart_on_new_credentials(
    EmailServerProfile,
    PROFILE_CREDENTIALS,
    lambda profile: Mailbox.objects.filter(profile=profile),
)
