"""The CRM side: accounts, contacts and the activities that sync with mail servers."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower

from crmsync.null_characters import reject_null_characters


class ChangeOrigin(models.TextChoices):
    """Where the last change of a record came from, so it is never echoed back there."""

    CRM_USER = "crm_user", "CRM user"
    API = "api", "REST API"
    SYNC = "sync", "Mailbox sync"
    SYSTEM = "system", "System"


class OwnedRecord(models.Model):
    """Owner (a user or a queue), bookkeeping times and the origin of the last change."""

    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    owner_queue = models.ForeignKey(
        "mailboxes.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True, db_index=True)
    change_origin = models.CharField(
        max_length=16, choices=ChangeOrigin.choices, default=ChangeOrigin.CRM_USER, editable=False
    )
    change_origin_mailbox = models.ForeignKey(
        "mailboxes.Mailbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The mailbox whose sync made the last change, if a sync made it.",
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(owner_user__isnull=False) & models.Q(owner_queue__isnull=True))
                | (models.Q(owner_user__isnull=True) & models.Q(owner_queue__isnull=False)),
                name="%(class)s_exactly_one_owner",
            ),
        ]

    @property
    def owner(self) -> models.Model | None:
        return self.owner_user if self.owner_user_id is not None else self.owner_queue


class Account(OwnedRecord):
    name = models.CharField(max_length=200, db_index=True)
    email_address = models.EmailField(max_length=320, blank=True, db_index=True)
    phone = models.CharField(max_length=64, blank=True)
    website = models.URLField(blank=True)
    description = models.TextField(blank=True)

    class Meta(OwnedRecord.Meta):
        ordering = ["name"]
        indexes = [models.Index(Lower("email_address"), name="account_email_lower_idx")]

    def __str__(self) -> str:
        return self.name


class Contact(OwnedRecord):
    """A CRM contact; syncs with Exchange contacts.

    Phone numbers and postal addresses are keyed by their Exchange label
    (business, home, mobile, ...; business, home, other) so that every entry survives a round
    trip; the three email addresses are columns because mail is matched on them.
    """

    first_name = models.CharField(max_length=100, blank=True)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    display_name = models.CharField(max_length=300, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=200, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    email_address1 = models.EmailField(max_length=320, blank=True, db_index=True)
    email_address2 = models.EmailField(max_length=320, blank=True, db_index=True)
    email_address3 = models.EmailField(max_length=320, blank=True, db_index=True)
    phone_numbers = models.JSONField(
        validators=[reject_null_characters],
        default=dict,
        blank=True,
        help_text='Label to number, e.g. {"business": "+1 555 0100"}.',
    )
    addresses = models.JSONField(
        validators=[reject_null_characters],
        default=dict,
        blank=True,
        help_text='Label to address: {"business": {"street", "city", "state", "postal_code", '
        '"country"}}.',
    )
    categories = models.JSONField(validators=[reject_null_characters], default=list, blank=True)
    notes = models.TextField(blank=True)
    birthday = models.DateField(null=True, blank=True)

    # What the contact says (not who owns it or when it changed): the fields the REST API
    # and the sync with mail servers both carry.
    CONTENT_FIELDS = (
        "first_name",
        "middle_name",
        "last_name",
        "display_name",
        "job_title",
        "department",
        "company_name",
        "account",
        "email_address1",
        "email_address2",
        "email_address3",
        "phone_numbers",
        "addresses",
        "categories",
        "notes",
        "birthday",
    )

    class Meta(OwnedRecord.Meta):
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(fields=["owner_user", "modified_at"], name="contact_owner_modified_idx"),
            # Parties are matched on lower-cased addresses (mailboxes.mail.parties).
            *(
                models.Index(Lower(f"email_address{n}"), name=f"contact_email{n}_lower_idx")
                for n in (1, 2, 3)
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email_address1 or f"Contact {self.pk}"

    @property
    def full_name(self) -> str:
        parts = [self.first_name, self.middle_name, self.last_name]
        return self.display_name or " ".join(p for p in parts if p)


class Activity(OwnedRecord):
    """Fields common to email, appointments and tasks."""

    subject = models.CharField(max_length=500, blank=True)
    regarding_content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    regarding_object_id = models.PositiveBigIntegerField(null=True, blank=True)
    regarding = GenericForeignKey("regarding_content_type", "regarding_object_id")
    categories = models.JSONField(validators=[reject_null_characters], default=list, blank=True)

    class Meta(OwnedRecord.Meta):
        abstract = True


class Email(Activity):
    class Direction(models.TextChoices):
        INCOMING = "incoming", "Incoming"
        OUTGOING = "outgoing", "Outgoing"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_SEND = "pending_send", "Pending send"
        SENDING = "sending", "Sending"
        # SMTP without IMAP: the message may have gone out (a worker died while sending it,
        # or the connection dropped before the server's answer), and nothing can tell.
        # Not sent again unless a person asks ("send again").
        UNCERTAIN = "uncertain", "May have been sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        RECEIVED = "received", "Received"

    mailbox = models.ForeignKey(
        "mailboxes.Mailbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="emails",
        help_text="The mailbox it was received by or is sent through.",
    )
    direction = models.CharField(max_length=16, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    message_id = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    conversation_id = models.CharField(max_length=512, blank=True)
    tracking_token = models.CharField(max_length=64, blank=True, db_index=True)
    from_address = models.CharField(max_length=320, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    raw_mime = models.FileField(
        upload_to="raw-mime/%Y/%m/", blank=True, help_text="Kept when a message cannot be parsed."
    )
    processing_error = models.TextField(blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    send_claimed_by = models.CharField(max_length=200, blank=True)
    send_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta(Activity.Meta):
        indexes = [
            models.Index(fields=["owner_user", "received_at"], name="email_owner_received_idx"),
            models.Index(fields=["owner_queue", "received_at"], name="email_queue_received_idx"),
            models.Index(fields=["message_id"], name="email_message_id_idx"),
            models.Index(fields=["conversation_id"], name="email_conversation_idx"),
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(status__in=["pending_send", "sending"]),
                name="email_outbox_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"Email {self.pk}"


class Appointment(Activity):
    class BusyStatus(models.TextChoices):
        FREE = "free", "Free"
        TENTATIVE = "tentative", "Tentative"
        BUSY = "busy", "Busy"
        OUT_OF_OFFICE = "out_of_office", "Out of office"
        WORKING_ELSEWHERE = "working_elsewhere", "Working elsewhere"

    location = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    is_all_day = models.BooleanField(default=False)
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA name of the time zone it was scheduled in."
    )
    busy_status = models.CharField(
        max_length=20, choices=BusyStatus.choices, default=BusyStatus.BUSY
    )
    reminder_minutes = models.PositiveIntegerField(null=True, blank=True)
    ical_uid = models.CharField("iCalUId", max_length=512, blank=True, db_index=True)
    recurrence = models.JSONField(
        validators=[reject_null_characters],
        null=True,
        blank=True,
        help_text="Recurrence pattern and range of a series master (pattern, interval, days, "
        "start, end or count).",
    )
    series_master = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="exceptions",
        help_text="For a modified or deleted occurrence: its series.",
    )
    original_start = models.DateTimeField(
        null=True, blank=True, help_text="For an occurrence: the start it had in the series."
    )
    is_cancelled = models.BooleanField(
        default=False, help_text="A deleted occurrence of a series, or a cancelled meeting."
    )

    # What the appointment says (not its series, parties, owner or regarding): the fields
    # the REST API and the sync with mail servers both carry.
    CONTENT_FIELDS = (
        "subject",
        "location",
        "description",
        "start",
        "end",
        "is_all_day",
        "time_zone",
        "busy_status",
        "reminder_minutes",
        "ical_uid",
        "recurrence",
        "is_cancelled",
        "categories",
    )

    class Meta(Activity.Meta):
        constraints = [
            *Activity.Meta.constraints,
            models.CheckConstraint(
                condition=models.Q(end__gte=models.F("start")), name="appointment_end_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["owner_user", "start"], name="appointment_owner_start_idx"),
            models.Index(fields=["owner_queue", "start"], name="appointment_queue_start_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or f"Appointment {self.pk}"


class Task(Activity):
    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        WAITING = "waiting", "Waiting on someone else"
        DEFERRED = "deferred", "Deferred"
        COMPLETED = "completed", "Completed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    description = models.TextField(blank=True)
    start_date = models.DateTimeField(null=True, blank=True)
    due_date = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    percent_complete = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)]
    )

    # What the task says (not its owner or regarding): the fields the REST API and the sync
    # with mail servers both carry.
    CONTENT_FIELDS = (
        "subject",
        "description",
        "start_date",
        "due_date",
        "completed_at",
        "status",
        "priority",
        "percent_complete",
        "categories",
    )

    class Meta(Activity.Meta):
        constraints = [
            *Activity.Meta.constraints,
            models.CheckConstraint(
                condition=models.Q(percent_complete__lte=100), name="task_percent_complete_range"
            ),
        ]
        indexes = [
            models.Index(fields=["owner_user", "due_date"], name="task_owner_due_idx"),
            models.Index(fields=["owner_queue", "due_date"], name="task_queue_due_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or f"Task {self.pk}"


class ActivityParty(models.Model):
    """A sender, recipient, organizer or attendee of one activity.

    It resolves to a user, a contact, an account or a queue, or stays a raw address.
    """

    class Role(models.TextChoices):
        FROM = "from", "From"
        TO = "to", "To"
        CC = "cc", "Cc"
        BCC = "bcc", "Bcc"
        ORGANIZER = "organizer", "Organizer"
        REQUIRED_ATTENDEE = "required", "Required attendee"
        OPTIONAL_ATTENDEE = "optional", "Optional attendee"
        RESOURCE = "resource", "Resource"

    class Response(models.TextChoices):
        NONE = "none", "No response"
        ORGANIZER = "organizer", "Organizer"
        TENTATIVE = "tentative", "Tentative"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    email = models.ForeignKey(
        Email, null=True, blank=True, on_delete=models.CASCADE, related_name="parties"
    )
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="parties"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    address = models.CharField(max_length=320, blank=True, db_index=True)
    display_name = models.CharField(max_length=300, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queue = models.ForeignKey(
        "mailboxes.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    response = models.CharField(max_length=16, choices=Response.choices, default=Response.NONE)

    class Meta:
        verbose_name_plural = "activity parties"
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(email__isnull=False) & models.Q(appointment__isnull=True))
                | (models.Q(email__isnull=True) & models.Q(appointment__isnull=False)),
                name="party_exactly_one_activity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.display_name or self.address}"


class Attachment(models.Model):
    email = models.ForeignKey(
        Email, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to="attachments/%Y/%m/", blank=True)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    content_id = models.CharField(max_length=255, blank=True)
    is_inline = models.BooleanField(default=False)
    exchange_attachment_id = models.CharField(max_length=512, blank=True)
    error = models.TextField(
        blank=True, help_text="Why the content is not stored (too large, unreadable)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(email__isnull=False, appointment__isnull=True, task__isnull=True)
                    | models.Q(email__isnull=True, appointment__isnull=False, task__isnull=True)
                    | models.Q(email__isnull=True, appointment__isnull=True, task__isnull=False)
                ),
                name="attachment_exactly_one_activity",
            ),
        ]

    def __str__(self) -> str:
        return self.filename
