"""Queues, mailboxes, their per-type options and id mappings."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from crmsync.crypto import EncryptedFieldsModel, EncryptedTextField
from crmsync.null_characters import reject_null_characters


class Queue(models.Model):
    """A shared inbox (support@, sales@) with an owner and members."""

    name = models.CharField(max_length=200, unique=True)
    email_address = models.EmailField(max_length=320, blank=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_queues"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="member_queues"
    )
    incoming_delivery_method = models.CharField(
        max_length=32, choices=DeliveryMethod.choices, default=DeliveryMethod.SERVER_SIDE_SYNC
    )
    outgoing_delivery_method = models.CharField(
        max_length=32,
        choices=OutgoingDeliveryMethod.choices,
        default=OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(Lower("email_address"), name="queue_email_lower_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def uses_server_side_sync(self) -> bool:
        return DeliveryMethod.SERVER_SIDE_SYNC in (
            self.incoming_delivery_method,
            self.outgoing_delivery_method,
        )


class Mailbox(EncryptedFieldsModel):
    """The mailbox of exactly one user or one queue: credentials, options, status."""

    class ApprovalStatus(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class ChannelStatus(models.TextChoices):
        NOT_RUN = "not_run", "Not run"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    class TrackingOption(models.TextChoices):
        ALL = "all", "All email messages"
        RESPONSES_TO_CRM_EMAIL = "responses_to_crm_email", "Responses to CRM email"
        FROM_CRM_RECORDS = "from_crm_records", "From contacts, accounts and users"
        FROM_ANY_EMAIL_ENABLED_RECORD = (
            "from_any_email_enabled_record",
            "From any email-enabled record",
        )

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mailbox",
    )
    queue = models.OneToOneField(
        Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="mailbox"
    )
    name = models.CharField(max_length=200, blank=True)
    email_address = models.EmailField(max_length=320, db_index=True)
    profile = models.ForeignKey(
        "profiles.EmailServerProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mailboxes",
        help_text="A mailbox without a profile is never processed.",
    )
    is_active = models.BooleanField("active", default=True)
    is_forward_mailbox = models.BooleanField(
        default=False,
        help_text="Receives email forwarded by many users and files it for each of them.",
    )

    incoming_delivery_method = models.CharField(
        max_length=32, choices=DeliveryMethod.choices, default=DeliveryMethod.SERVER_SIDE_SYNC
    )
    outgoing_delivery_method = models.CharField(
        max_length=32,
        choices=OutgoingDeliveryMethod.choices,
        default=OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
    )
    act_delivery_method = models.CharField(
        "appointments, contacts and tasks",
        max_length=32,
        choices=ActDeliveryMethod.choices,
        default=ActDeliveryMethod.SERVER_SIDE_SYNC,
    )
    approval_status = models.CharField(
        max_length=16,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.PENDING,
        help_text="Nothing is processed until the mailbox is approved.",
    )
    approved_email_address = models.EmailField(
        max_length=320,
        blank=True,
        editable=False,
        help_text="The address the approval covers: a mailbox whose address differs from it "
        "waits for approval again (Dynamics' “approve email address”).",
    )

    username = models.CharField(
        max_length=320, blank=True, help_text="Used when the profile takes per-mailbox credentials."
    )
    password = EncryptedTextField(blank=True)

    tracking_option = models.CharField(
        max_length=40, choices=TrackingOption.choices, default=TrackingOption.FROM_CRM_RECORDS
    )
    send_invitations = models.BooleanField(
        "send invitations from the CRM",
        default=True,
        help_text="Meetings created in the CRM invite their attendees, and their changes and "
        "cancellations reach the attendees invited. Off: the CRM never sends meeting requests.",
    )
    process_and_delete = models.BooleanField(
        default=False, help_text="POP3: delete messages from the server once they are filed."
    )
    process_emails_received_after = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Overrides the profile's date; older email is never processed.",
    )

    # Status, per channel and overall
    incoming_status = models.CharField(
        max_length=16, choices=ChannelStatus.choices, default=ChannelStatus.NOT_RUN
    )
    outgoing_status = models.CharField(
        max_length=16, choices=ChannelStatus.choices, default=ChannelStatus.NOT_RUN
    )
    act_status = models.CharField(
        "appointments, contacts and tasks status",
        max_length=16,
        choices=ChannelStatus.choices,
        default=ChannelStatus.NOT_RUN,
    )
    test_status = models.CharField(
        max_length=16, choices=ChannelStatus.choices, default=ChannelStatus.NOT_RUN
    )
    tested_at = models.DateTimeField(null=True, blank=True)
    last_error_text = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=100, blank=True)
    last_error_kind = models.CharField(
        max_length=32,
        blank=True,
        help_text="What kind of failure the last error was (authentication, "
        "mailbox_not_found, throttled, network, server, protocol, internal, ...).",
    )
    last_error_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the first error since the last success happened (the status's "
        '"failing since").',
    )
    error_count = models.PositiveIntegerField(default=0, help_text="Errors since the last success.")
    transient_failure_count = models.PositiveIntegerField(
        default=0, help_text="Transient failures in a row."
    )
    incoming_processed_at = models.DateTimeField(null=True, blank=True)
    outgoing_processed_at = models.DateTimeField(null=True, blank=True)
    act_processed_at = models.DateTimeField(null=True, blank=True)
    items_processed = models.PositiveIntegerField(default=0, help_text="In the last sync.")
    items_failed = models.PositiveIntegerField(default=0, help_text="In the last sync.")
    last_sync_started_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    average_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    idle_cycles = models.PositiveIntegerField(
        default=0, help_text="Cycles in a row that found nothing to do (idle back-off)."
    )

    # Scheduling
    incoming_postpone_until = models.DateTimeField(null=True, blank=True)
    outgoing_postpone_until = models.DateTimeField(null=True, blank=True)
    act_postpone_until = models.DateTimeField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "mailboxes"
        ordering = ["email_address"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False) & models.Q(queue__isnull=True))
                | (models.Q(user__isnull=True) & models.Q(queue__isnull=False)),
                name="mailbox_exactly_one_owner",
            ),
        ]
        indexes = [
            # The dispatcher's scan: approved active mailboxes by due time.
            models.Index(
                fields=["approval_status", "is_active", "next_due_at"], name="mailbox_due_idx"
            ),
            models.Index(fields=["profile", "claim_expires_at"], name="mailbox_profile_claim_idx"),
            # Parties are matched on the lower-cased address (mailboxes.mail.parties).
            models.Index(Lower("email_address"), name="mailbox_email_lower_idx"),
        ]

    def __str__(self) -> str:
        return self.email_address or self.name

    @property
    def owner(self) -> models.Model | None:
        return self.user if self.user_id is not None else self.queue

    def clean(self) -> None:
        if (self.user_id is None) == (self.queue_id is None):
            raise ValidationError("A mailbox belongs to exactly one user or one queue.")


class ItemType(models.TextChoices):
    APPOINTMENT = "appointment", "Appointment"
    CONTACT = "contact", "Contact"
    TASK = "task", "Task"
    EMAIL = "email", "Email"


class ItemTypeSyncOptions(models.Model):
    """A mailbox's options for one item type (appointments, contacts or tasks)."""

    class ConflictStrategy(models.TextChoices):
        CRM_WINS = "crm_wins", "CRM wins"
        EXCHANGE_WINS = "exchange_wins", "Exchange wins"
        MOST_RECENT_WINS = "most_recent_wins", "Most recent change wins"
        MANUAL = "manual", "Ask the user"

    class ExchangeDeleteMode(models.TextChoices):
        HARD = "hard", "Delete permanently"
        SOFT = "soft", "Soft delete (recoverable)"
        MOVE_TO_DELETED_ITEMS = "move_to_deleted_items", "Move to Deleted Items"

    class ContactImportScope(models.TextChoices):
        ALL_FOLDERS = "all_folders", "All contact folders"
        SELECTED_FOLDERS = "selected_folders", "Selected folders"

    class ContactExportScope(models.TextChoices):
        ALL = "all", "All contacts the user can see"
        SELECTED_CATEGORIES = "selected_categories", "Selected categories or groups"

    SYNCED_TYPES = (ItemType.APPOINTMENT, ItemType.CONTACT, ItemType.TASK)

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="sync_options")
    item_type = models.CharField(
        max_length=16,
        choices=[(t.value, t.label) for t in SYNCED_TYPES],
    )
    is_enabled = models.BooleanField("enabled", default=True)
    crm_to_exchange = models.BooleanField("CRM → Exchange updates", default=True)
    exchange_to_crm = models.BooleanField("Exchange → CRM updates", default=True)
    delete_crm_to_exchange = models.BooleanField(
        "delete in Exchange what CRM deletes", default=True
    )
    delete_exchange_to_crm = models.BooleanField(
        "delete in CRM what Exchange deletes", default=False
    )
    conflict_strategy = models.CharField(
        max_length=20, choices=ConflictStrategy.choices, default=ConflictStrategy.MOST_RECENT_WINS
    )
    exchange_delete_mode = models.CharField(
        max_length=24,
        choices=ExchangeDeleteMode.choices,
        default=ExchangeDeleteMode.MOVE_TO_DELETED_ITEMS,
    )
    categories = models.JSONField(
        validators=[reject_null_characters],
        default=list,
        blank=True,
        help_text="Categories stamped on items written to Exchange.",
    )
    sync_from = models.DateField(
        null=True, blank=True, help_text="Appointments: how far back the past is synced."
    )
    export_pending = models.BooleanField(
        default=False,
        editable=False,
        help_text="An option widened what this type exports: the next push looks at every "
        "record, not only those changed since the last cycle.",
    )
    invitations_from = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Meetings created in the CRM before this (the first sync, an option that "
        "widened) are exported without invitations.",
    )
    contact_import_scope = models.CharField(
        max_length=20, choices=ContactImportScope.choices, default=ContactImportScope.ALL_FOLDERS
    )
    contact_import_folders = models.JSONField(
        validators=[reject_null_characters],
        default=list,
        blank=True,
        help_text="Exchange folder ids, when importing selected folders.",
    )
    contact_export_scope = models.CharField(
        max_length=24, choices=ContactExportScope.choices, default=ContactExportScope.ALL
    )
    contact_export_categories = models.JSONField(
        validators=[reject_null_characters],
        default=list,
        blank=True,
        help_text="Categories or groups exported, when selected.",
    )

    class Meta:
        verbose_name = "item type sync options"
        verbose_name_plural = "item type sync options"
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "item_type"], name="sync_options_one_per_type"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox} · {self.get_item_type_display()}"


class ChangeType(models.TextChoices):
    NONE = "none", "None"
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"


class ExchangeSyncIdMapping(models.Model):
    """The link between one CRM record and one Exchange item, per mailbox."""

    class UserDecision(models.TextChoices):
        NONE = "none", "No conflict"
        PENDING = "pending", "Pending decision"
        KEEP_CRM = "keep_crm", "Keep the CRM version"
        KEEP_EXCHANGE = "keep_exchange", "Keep the Exchange version"

    # `last_error_code` of a meeting change the server could not write without telling
    # attendees the invitation rule says must not be told (README, "Meeting invitations").
    MEETING_HELD = "meeting_held"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="id_mappings")
    object_type = models.CharField(max_length=16, choices=ItemType.choices)
    # Labels say "CRM" (plain labels, issue 14), as Django would say "Crm".
    crm_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, related_name="+", verbose_name="CRM record type"
    )
    crm_object_id = models.PositiveBigIntegerField("CRM record id")
    crm_object = GenericForeignKey("crm_content_type", "crm_object_id")
    exchange_item_id = models.CharField(max_length=512)
    change_key = models.CharField(max_length=512, blank=True)
    ical_uid = models.CharField("iCalUId", max_length=512, blank=True)
    exchange_folder_id = models.CharField(max_length=512, blank=True)
    crm_fingerprint = models.CharField(
        "CRM fingerprint",
        max_length=64,
        blank=True,
        help_text="Hash of the CRM record's synced fields.",
    )
    exchange_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Hash of the Exchange item's synced fields."
    )
    crm_modified_at = models.DateTimeField("CRM modified at", null=True, blank=True)
    exchange_modified_at = models.DateTimeField(null=True, blank=True)
    from_crm_change_type = models.CharField(
        "change from the CRM", max_length=16, choices=ChangeType.choices, default=ChangeType.NONE
    )
    to_crm_change_type = models.CharField(
        "change to the CRM", max_length=16, choices=ChangeType.choices, default=ChangeType.NONE
    )
    is_deleted_in_exchange = models.BooleanField(default=False)
    is_unlinked_in_crm = models.BooleanField("unlinked in the CRM", default=False)
    user_decision = models.CharField(
        max_length=16, choices=UserDecision.choices, default=UserDecision.NONE
    )
    crm_snapshot = models.JSONField(
        "CRM version",
        validators=[reject_null_characters],
        null=True,
        blank=True,
        help_text="The CRM version of a conflict awaiting a decision.",
    )
    exchange_snapshot = models.JSONField(
        "Exchange version",
        validators=[reject_null_characters],
        null=True,
        blank=True,
        help_text="The Exchange version of a conflict awaiting a decision.",
    )
    retries = models.PositiveIntegerField(default=0)
    last_error_text = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=100, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    item_subject = models.CharField(max_length=500, blank=True)
    invited = models.JSONField(
        default=list,
        blank=True,
        help_text="Meetings: the attendees (lower-case addresses) this mailbox sent the meeting "
        "to; only they receive its updates and cancellation.",
    )
    withheld = models.JSONField(
        default=list,
        blank=True,
        help_text="Meetings: the attendees (lower-case addresses) the meeting was written to "
        "Exchange with but not sent to (a first sync, a full resync, an option change, "
        "'send invitations' off, unsent in Outlook); a meeting nobody was sent stays unsent.",
    )
    stamp_pending = models.BooleanField(
        default=False,
        help_text="The item does not carry the CRM record id yet: written after the pull, a "
        "budget a cycle (Graph; EWS writes it with the page).",
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Exchange sync id mapping"
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "exchange_item_id"], name="mapping_unique_exchange_item"
            ),
            models.UniqueConstraint(
                fields=["mailbox", "crm_content_type", "crm_object_id"],
                name="mapping_unique_crm_object",
            ),
        ]
        indexes = [
            models.Index(fields=["mailbox", "ical_uid"], name="mapping_ical_uid_idx"),
            models.Index(
                fields=["mailbox", "object_type", "exchange_fingerprint"],
                name="mapping_fingerprint_idx",
            ),
            models.Index(
                fields=["user_decision"],
                condition=models.Q(user_decision="pending"),
                name="mapping_pending_decision_idx",
            ),
            # The stamps still to write, oldest first (an idle cycle asks it, finds none).
            models.Index(
                fields=["mailbox", "id"],
                condition=models.Q(stamp_pending=True),
                name="mapping_stamp_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox} · {self.object_type} · {self.item_subject or self.crm_object_id}"


class PendingConflictManager(models.Manager["PendingConflict"]):
    def get_queryset(self) -> models.QuerySet["PendingConflict"]:
        return (
            super().get_queryset().filter(user_decision=ExchangeSyncIdMapping.UserDecision.PENDING)
        )


class PendingConflict(ExchangeSyncIdMapping):
    """A mapping whose `manual` conflict awaits a person's decision (an admin screen)."""

    # A narrower default manager: the admin and any query see pending conflicts only.
    objects = PendingConflictManager()  # type: ignore[misc]

    class Meta:
        proxy = True
        verbose_name = "pending conflict"
