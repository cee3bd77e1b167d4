"""What a mailbox keeps between cycles and tells people: folder sync states, processed
messages, alerts, the history of cycles and the Inbox's folder listing."""

from django.conf import settings
from django.db import models

from crmsync.null_characters import reject_null_characters
from mailboxes.models.mailbox import ItemType, Mailbox


class FolderSyncState(models.Model):
    """Where the last pull of one folder stopped: an EWS sync state, a Graph delta link or
    POP3/IMAP UIDs."""

    class Protocol(models.TextChoices):
        EWS = "ews", "EWS"
        IMAP = "imap", "IMAP"
        POP3 = "pop3", "POP3"
        GRAPH = "graph", "Microsoft Graph"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folder_states")
    protocol = models.CharField(max_length=8, choices=Protocol.choices)
    item_type = models.CharField(max_length=16, choices=ItemType.choices)
    folder_id = models.CharField(
        max_length=512, help_text="Exchange folder id, IMAP folder name, or 'INBOX' for POP3."
    )
    folder_name = models.CharField(max_length=255, blank=True)
    sync_state = models.TextField(
        blank=True, help_text="Opaque cursor: an EWS sync state, a Graph delta or next link."
    )
    uid_validity = models.PositiveBigIntegerField(null=True, blank=True)
    last_uid = models.PositiveBigIntegerField(null=True, blank=True)
    is_initial_sync_complete = models.BooleanField(default=False)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    subfolders_listed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the folders below this one were last listed (contacts from all folders).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "protocol", "folder_id"], name="folder_state_unique_folder"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox} · {self.protocol} · {self.folder_name or self.folder_id}"


class Alert(models.Model):
    """A problem with a mailbox or a profile, for admins and the mailbox owner."""

    class Severity(models.TextChoices):
        INFO = "info", "Information"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.ERROR)
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    profile = models.ForeignKey(
        "profiles.EmailServerProfile",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    code = models.CharField(max_length=100, blank=True)
    message = models.TextField()
    # For the administrators only (a defect of crmsync itself): the admin shows it, the
    # mailbox owner's pages do not.
    staff_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mailbox__isnull=False) | models.Q(profile__isnull=False),
                name="alert_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.message[:80]}"

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class ProcessedMessage(models.Model):
    """One message a mailbox pulled from a server folder, so that it is never filed twice.

    Keyed by folder + UID + UIDVALIDITY (IMAP), UIDL (POP3) or item id (EWS): replaying a
    fetch is a no-op. It also remembers which email came from which folder, so that a
    folder-level tracking rule can be applied again at every sync.
    """

    class Outcome(models.TextChoices):
        FILED = "filed", "Filed as a new email"
        LINKED = "linked", "Same Message-ID as an email already filed: linked to it"
        IRRELEVANT = "irrelevant", "Not relevant for the mailbox's tracking option"
        TOO_OLD = "too_old", "Received before the cut-off date"
        FAILED = "failed", "Could not be filed: kept as raw MIME with an error"

    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.CASCADE, related_name="processed_messages"
    )
    protocol = models.CharField(max_length=8, choices=FolderSyncState.Protocol.choices)
    folder_id = models.CharField(max_length=512)
    uid_validity = models.PositiveBigIntegerField(default=0)
    uid = models.CharField(max_length=512)
    email = models.ForeignKey(
        "activities.Email",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="processed_messages",
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    processed_at = models.DateTimeField(auto_now_add=True)
    # What the "why was this not tracked?" search shows, blanked after
    # CRMSYNC_PROCESSED_REASON_DAYS (the row itself stays: it keeps the message from being
    # filed twice).
    sender = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    reason = models.TextField(blank=True)
    # The message as fetched, kept for messages filed as irrelevant so that "track it now"
    # can file it without the mail server; removed with the reason.
    raw_mime = models.FileField(upload_to="processed/%Y/%m/", blank=True, max_length=255)
    # "Track it now", done by a worker (mailboxes/mail/track_on_request.py): asked, answered,
    # and why it could not be tracked.
    track_requested_at = models.DateTimeField(null=True, blank=True)
    track_finished_at = models.DateTimeField(null=True, blank=True)
    track_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "protocol", "folder_id", "uid_validity", "uid"],
                name="processed_message_unique_uid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox} · {self.folder_id} · {self.uid} · {self.outcome}"


class SyncRun(models.Model):
    """One sync cycle of one mailbox, for the health dashboard; kept for a week."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        TRANSIENT = "transient", "Transient error"
        PERMANENT = "permanent", "Permanent error"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="sync_runs")
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    items_processed = models.PositiveIntegerField(default=0)
    items_failed = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error_text = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # Retention deletes one mailbox's old runs at the end of each of its cycles.
            models.Index(fields=["mailbox", "started_at"], name="sync_run_mailbox_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id} · {self.started_at:%Y-%m-%d %H:%M} · {self.outcome}"


class ExchangeFolderListing(models.Model):
    """The mail folders under a mailbox's Inbox, as a worker last listed them from Exchange.

    The self-service page offers them when a tracking folder is added; it never lists them
    itself. A row of its own, so that listing never touches the busy `Mailbox` row.
    `folders` holds `{"id": EWS folder id, "name": display name, "path": "Projects / Acme"}`
    sorted by path.
    """

    mailbox = models.OneToOneField(
        Mailbox, on_delete=models.CASCADE, related_name="exchange_folder_listing"
    )
    folders = models.JSONField(validators=[reject_null_characters], default=list, blank=True)
    # Contacts and the contact folders below it, the same way ("Contacts / Suppliers"): what
    # a contact import's selected folders are picked from. A user's mailbox only.
    contact_folders = models.JSONField(
        validators=[reject_null_characters], default=list, blank=True
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    listed_at = models.DateTimeField(null=True, blank=True)
    error_text = models.TextField(blank=True)
    error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.mailbox} · {len(self.folders)} folders"

    @property
    def is_waiting(self) -> bool:
        """A refresh was asked for and no worker has answered it yet."""
        if self.requested_at is None:
            return False
        answered = max(filter(None, (self.listed_at, self.error_at)), default=None)
        return answered is None or answered < self.requested_at
