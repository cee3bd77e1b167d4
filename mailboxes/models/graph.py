"""Microsoft Graph change-notification subscriptions of the mailboxes (push by webhooks)."""

from django.db import models

from crmsync.crypto import EncryptedFieldsModel, EncryptedTextField
from mailboxes.models.mailbox import Mailbox


class GraphSubscription(EncryptedFieldsModel):
    """One Graph subscription of one mailbox's resource (its Inbox's messages, a tracked
    folder's messages, its events, contacts or To Do tasks).

    Made and renewed by beat (`mailboxes.webhooks.subscriptions`); the notification view finds
    a notification's row by `subscription_id` and checks its `clientState` against
    `client_state`, a random secret kept encrypted like a password.

    A deleted mailbox leaves its rows without a mailbox: Graph keeps the subscriptions (and
    notifies) until they expire, so beat's upkeep deletes them at Graph with the application
    of `profile`, the one they were made with, then here.
    """

    mailbox = models.ForeignKey(
        Mailbox,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="graph_subscriptions",
        help_text="Empty once the mailbox is deleted, until beat deletes the subscription.",
    )
    profile = models.ForeignKey(
        "profiles.EmailServerProfile",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whose application made it (and deletes it at Graph).",
    )
    key = models.CharField(
        max_length=600,
        help_text="What is watched: inbox, sentitems, folder:<id>, events, contacts, tasks.",
    )
    resource = models.CharField(max_length=1000, help_text="The resource path given to Graph.")
    subscription_id = models.CharField(max_length=200, unique=True)
    client_state = EncryptedTextField(
        help_text="The secret Graph repeats in every notification of this subscription."
    )
    notification_url = models.URLField(max_length=1000)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    renewed_at = models.DateTimeField(null=True, blank=True)
    last_notification_at = models.DateTimeField(
        null=True, blank=True, help_text="When Graph last told of a change (or of missed ones)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "key"], name="graph_subscription_one_per_key"
            )
        ]
        indexes = [models.Index(fields=["expires_at"], name="graph_subscription_expiry_idx")]

    def __str__(self) -> str:
        owner = self.mailbox if self.mailbox_id else "(mailbox deleted)"
        return f"{owner} · {self.key} · until {self.expires_at:%Y-%m-%d %H:%M}"
