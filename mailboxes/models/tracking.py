"""Tracking folders: Exchange folders whose mail is tracked as CRM email, at most
`MAX_TRACKING_FOLDERS` per mailbox."""

from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction

from mailboxes.models.mailbox import Mailbox

MAX_TRACKING_FOLDERS = 25


class MailboxTrackingFolder(models.Model):
    """Every email moved into this Exchange folder is tracked, regarding the rule's record."""

    class OnboardingStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="tracking_folders")
    exchange_folder_id = models.CharField(max_length=512)
    exchange_folder_name = models.CharField(max_length=255)
    regarding_content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    regarding_object_id = models.PositiveBigIntegerField(null=True, blank=True)
    regarding = GenericForeignKey("regarding_content_type", "regarding_object_id")
    onboarding_status = models.CharField(
        max_length=16, choices=OnboardingStatus.choices, default=OnboardingStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "exchange_folder_id"], name="tracking_folder_unique_folder"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox} · {self.exchange_folder_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new folder is counted and inserted while its mailbox's row is locked, so two
        people adding the last folder at once cannot pass the limit (`clean` counts for the
        forms' message, under the same lock when it runs in the saving transaction)."""
        if not self._state.adding or self.mailbox_id is None:
            super().save(*args, **kwargs)
            return
        with transaction.atomic():
            list(Mailbox.objects.select_for_update().filter(pk=self.mailbox_id).values("pk"))
            if MailboxTrackingFolder.objects.filter(mailbox_id=self.mailbox_id).count() >= (
                MAX_TRACKING_FOLDERS
            ):
                raise _too_many_folders()
            super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.mailbox_id is None:
            return
        if self._state.adding and transaction.get_connection().in_atomic_block:
            # Inside the transaction that will save the folder (the admin's): count under
            # the mailbox's lock, held until it commits, so that a concurrent addition of
            # the last folder shows as this form's error rather than failing the save.
            list(Mailbox.objects.select_for_update().filter(pk=self.mailbox_id).values("pk"))
        others = MailboxTrackingFolder.objects.filter(mailbox_id=self.mailbox_id).exclude(
            pk=self.pk
        )
        if others.count() >= MAX_TRACKING_FOLDERS:
            raise _too_many_folders()


def _too_many_folders() -> ValidationError:
    return ValidationError(
        f"A mailbox has at most {MAX_TRACKING_FOLDERS} tracking folders.",
        code="too_many_tracking_folders",
    )
