"""Choices shared by several apps."""

from django.db import models


class DeliveryMethod(models.TextChoices):
    NONE = "none", "None"
    SERVER_SIDE_SYNC = "server_side_sync", "Server-side synchronization"
    FORWARD_MAILBOX = "forward_mailbox", "Forward mailbox"


class OutgoingDeliveryMethod(models.TextChoices):
    NONE = "none", "None"
    SERVER_SIDE_SYNC = "server_side_sync", "Server-side synchronization"


class ActDeliveryMethod(models.TextChoices):
    NONE = "none", "None"
    SERVER_SIDE_SYNC = "server_side_sync", "Server-side synchronization"
