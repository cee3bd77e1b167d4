"""Folder-level tracking rules: mail in a tracked folder is set regarding the rule's record.

A person may change the regarding record of such an email in the CRM; the folder rule wins
again at the next sync (`apply_tracking_rules`, run after every incoming pass).
"""

from __future__ import annotations

from django.utils import timezone

from activities.models import ChangeOrigin, Email
from mailboxes.models import Mailbox, MailboxTrackingFolder


def set_regarding(email: Email, rule: MailboxTrackingFolder, mailbox: Mailbox) -> None:
    """Point one filed email at the rule's regarding record (a no-op when it already is)."""
    if (
        email.regarding_content_type_id == rule.regarding_content_type_id
        and email.regarding_object_id == rule.regarding_object_id
    ):
        return
    Email.objects.filter(pk=email.pk).update(
        regarding_content_type_id=rule.regarding_content_type_id,
        regarding_object_id=rule.regarding_object_id,
        change_origin=ChangeOrigin.SYNC,
        change_origin_mailbox=mailbox,
        modified_at=timezone.now(),
    )


def apply_tracking_rules(mailbox: Mailbox) -> int:
    """Set again the regarding record of every email filed from a tracking folder.

    Returns how many emails changed.
    """
    changed = 0
    for rule in mailbox.tracking_folders.exclude(regarding_object_id=None):
        folder_ids = {rule.exchange_folder_id, rule.exchange_folder_name} - {""}
        stale = (
            Email.objects.filter(
                processed_messages__mailbox=mailbox,
                processed_messages__folder_id__in=folder_ids,
            )
            .exclude(
                regarding_content_type_id=rule.regarding_content_type_id,
                regarding_object_id=rule.regarding_object_id,
            )
            .values_list("pk", flat=True)
        )
        changed += Email.objects.filter(pk__in=list(stale)).update(
            regarding_content_type_id=rule.regarding_content_type_id,
            regarding_object_id=rule.regarding_object_id,
            change_origin=ChangeOrigin.SYNC,
            change_origin_mailbox=mailbox,
            modified_at=timezone.now(),
        )
    return changed
