import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a time zone name (such as Europe/Paris).")


class User(AbstractUser):
    """A CRM user. The delivery methods decide whether the user gets a mailbox on creation."""

    incoming_delivery_method = models.CharField(
        max_length=32,
        choices=DeliveryMethod.choices,
        default=DeliveryMethod.SERVER_SIDE_SYNC,
        help_text="How this user's incoming email reaches the CRM.",
    )
    outgoing_delivery_method = models.CharField(
        max_length=32,
        choices=OutgoingDeliveryMethod.choices,
        default=OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
        help_text="How CRM email from this user is sent.",
    )
    act_delivery_method = models.CharField(
        "appointments, contacts and tasks",
        max_length=32,
        choices=ActDeliveryMethod.choices,
        default=ActDeliveryMethod.SERVER_SIDE_SYNC,
        help_text="Whether this user's appointments, contacts and tasks sync with Exchange.",
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="The time zone of the times on every page; empty: the installation's "
        "(TIME_ZONE).",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        indexes = [
            models.Index(fields=["email"], name="user_email_idx"),
            # Parties are matched on the lower-cased address (mailboxes.mail.parties).
            models.Index(Lower("email"), name="user_email_lower_idx"),
        ]

    @property
    def uses_server_side_sync(self) -> bool:
        return DeliveryMethod.SERVER_SIDE_SYNC in (
            self.incoming_delivery_method,
            self.outgoing_delivery_method,
            self.act_delivery_method,
        )
