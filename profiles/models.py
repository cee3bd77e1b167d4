from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from crmsync.crypto import EncryptedFieldsModel, EncryptedTextField
from profiles.microsoft import DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_ENDPOINT


class EmailServerProfile(EncryptedFieldsModel):
    """How to reach one mail system (an Exchange server or a POP3/IMAP + SMTP pair)."""

    class ServerType(models.TextChoices):
        EXCHANGE = "exchange", "Exchange Server (EWS)"
        EXCHANGE_ONLINE = "exchange_online", "Exchange Online (EWS, OAuth2)"
        MICROSOFT_365 = "microsoft_365", "Microsoft 365 (Graph)"
        POP3_SMTP = "pop3_smtp", "POP3 + SMTP"
        IMAP_SMTP = "imap_smtp", "IMAP + SMTP"

    class AuthenticationProtocol(models.TextChoices):
        AUTO_DETECT = "auto_detect", "Auto-detect"
        NTLM = "ntlm", "NTLM"
        BASIC = "basic", "Basic"
        OAUTH = "oauth", "OAuth"

    class CredentialRetrieval(models.TextChoices):
        PER_MAILBOX = "per_mailbox", "Credentials of each mailbox (user or queue owner)"
        PROFILE = "profile", "One service account for all mailboxes"
        OAUTH = "oauth", "OAuth"

    class ExchangeVersion(models.TextChoices):
        EXCHANGE_2010_SP2 = "2010_sp2", "Exchange 2010 SP2"
        EXCHANGE_2013 = "2013", "Exchange 2013"
        EXCHANGE_2016 = "2016", "Exchange 2016"
        EXCHANGE_2019 = "2019", "Exchange 2019 / Subscription Edition"

    class TestStatus(models.TextChoices):
        NOT_RUN = "not_run", "Not run"
        SUCCESS = "success", "Success"
        WARNING = "warning", "Warning"
        FAILURE = "failure", "Failure"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_email_server_profiles",
        help_text="Receives the alerts of this profile.",
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Mailboxes of an inactive profile are never processed."
    )
    is_default = models.BooleanField(
        "default profile",
        default=False,
        help_text="New users and queues get a mailbox on this profile.",
    )
    server_type = models.CharField(
        max_length=32, choices=ServerType.choices, default=ServerType.EXCHANGE
    )

    # Incoming (EWS, POP3 or IMAP)
    incoming_server_location = models.CharField(
        max_length=500,
        blank=True,
        help_text="EWS URL (https://mail.example.com/EWS/Exchange.asmx) or POP3/IMAP host name.",
    )
    incoming_port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(65535)]
    )
    incoming_use_ssl = models.BooleanField("incoming uses SSL/TLS", default=True)
    incoming_use_autodiscover = models.BooleanField(
        "discover the incoming server automatically", default=False
    )
    incoming_authentication_protocol = models.CharField(
        max_length=32,
        choices=AuthenticationProtocol.choices,
        default=AuthenticationProtocol.AUTO_DETECT,
    )
    incoming_credential_retrieval = models.CharField(
        max_length=32, choices=CredentialRetrieval.choices, default=CredentialRetrieval.PER_MAILBOX
    )
    incoming_use_impersonation = models.BooleanField(
        default=False,
        help_text="The service account acts as each mailbox (EWS ExchangeImpersonation).",
    )
    incoming_username = models.CharField(max_length=320, blank=True)
    incoming_password = EncryptedTextField(blank=True)

    use_same_settings_for_outgoing = models.BooleanField(default=True)

    # Outgoing (EWS or SMTP)
    outgoing_server_location = models.CharField(
        max_length=500, blank=True, help_text="EWS URL or SMTP host name."
    )
    outgoing_port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(65535)]
    )
    outgoing_use_ssl = models.BooleanField("outgoing uses SSL/TLS", default=True)
    outgoing_use_autodiscover = models.BooleanField(
        "discover the outgoing server automatically", default=False
    )
    outgoing_authentication_protocol = models.CharField(
        max_length=32,
        choices=AuthenticationProtocol.choices,
        default=AuthenticationProtocol.AUTO_DETECT,
    )
    outgoing_credential_retrieval = models.CharField(
        max_length=32, choices=CredentialRetrieval.choices, default=CredentialRetrieval.PER_MAILBOX
    )
    outgoing_use_impersonation = models.BooleanField(default=False)
    outgoing_username = models.CharField(max_length=320, blank=True)
    outgoing_password = EncryptedTextField(blank=True)
    smtp_saves_sent_copy = models.BooleanField(
        "the SMTP server saves sent copies",
        default=False,
        help_text="IMAP + SMTP: the mail service puts every message its SMTP server accepts "
        "in the Sent folder itself (Gmail, Microsoft 365). Off: crmsync saves the copy in "
        "Sent over IMAP.",
    )

    # Microsoft Entra ID application (Microsoft 365 over Graph, EWS with OAuth2): app-only
    # tokens by the client-credentials grant, authenticated by a secret or a certificate.
    oauth_tenant_id = models.CharField(
        "tenant ID",
        max_length=200,
        blank=True,
        help_text="Directory (tenant) id or primary domain (contoso.onmicrosoft.com).",
    )
    oauth_client_id = models.CharField("application (client) ID", max_length=200, blank=True)
    oauth_client_secret = EncryptedTextField(
        "client secret", blank=True, help_text="The secret's value, not its id."
    )
    oauth_private_key = EncryptedTextField(
        "certificate private key",
        blank=True,
        help_text="PEM private key of the certificate uploaded to the application "
        "(instead of a client secret).",
    )
    oauth_certificate = models.TextField(
        "certificate",
        blank=True,
        help_text="PEM certificate uploaded to the application; its thumbprint and expiry "
        "are read from it.",
    )
    oauth_certificate_thumbprint = models.CharField(
        "certificate thumbprint",
        max_length=64,
        blank=True,
        help_text="SHA-1 thumbprint (hex) as the portal shows it, when no certificate is given.",
    )
    oauth_authority_host = models.URLField(
        "authority host",
        max_length=500,
        default=DEFAULT_AUTHORITY_HOST,
        help_text="Microsoft Entra ID's sign-in host (another for national clouds).",
    )
    graph_endpoint = models.URLField(
        "Graph endpoint", max_length=500, default=DEFAULT_GRAPH_ENDPOINT
    )
    oauth_resource = models.CharField(
        "EWS OAuth2 resource",
        max_length=500,
        blank=True,
        help_text="Application ID URI the EWS token is requested for; empty: "
        "https://outlook.office365.com for Exchange Online, the EWS URL's host on premises.",
    )

    autodiscover_domain = models.CharField(
        max_length=253,
        blank=True,
        help_text="With autodiscover on, only addresses in this domain (example.com) are "
        "discovered, so that credentials are never sent to a domain a user typed.",
    )
    exchange_version = models.CharField(
        max_length=16,
        choices=ExchangeVersion.choices,
        default=ExchangeVersion.EXCHANGE_2016,
        help_text="Used when autodiscover is off.",
    )
    max_concurrent_connections = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(300)],
        help_text="How many mailboxes of this profile are synced at once, across all workers.",
    )
    min_polling_interval_minutes = models.PositiveIntegerField(
        "minimum polling interval (minutes)",
        default=5,
        validators=[MinValueValidator(1)],
        help_text="How often a busy mailbox is pulled.",
    )
    connection_timeout_ms = models.PositiveIntegerField(
        "connection timeout (ms)", default=120_000, validators=[MinValueValidator(1000)]
    )
    process_emails_received_after = models.DateTimeField(
        null=True, blank=True, help_text="Older email is never processed."
    )
    move_undelivered_emails = models.BooleanField(
        default=False,
        help_text="Move email that cannot be filed to an 'Undeliverable' folder in Exchange.",
    )
    send_alert_on_failures = models.BooleanField(
        "alert the owner on failures",
        default=True,
        help_text="Alert the owner when more than half of the mailboxes fail within an hour.",
    )

    last_test_status = models.CharField(
        max_length=16, choices=TestStatus.choices, default=TestStatus.NOT_RUN, editable=False
    )
    last_test_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_duration_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_test_message = models.TextField(blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="profile_single_default",
                violation_error_message="Another profile is already the default profile; "
                "clear its flag first.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_concurrent_connections__gte=1)
                & models.Q(max_concurrent_connections__lte=300),
                name="profile_max_connections_range",
            ),
            models.CheckConstraint(
                condition=models.Q(min_polling_interval_minutes__gte=1),
                name="profile_polling_interval_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = self._rule_errors()
        if errors:
            raise ValidationError(errors)

    def _rule_errors(self) -> dict[str, str]:
        """What the profile's rules find wrong (profiles/validation.py)."""
        from profiles.validation import rule_errors

        return rule_errors(self)

    @property
    def is_graph(self) -> bool:
        return self.server_type == self.ServerType.MICROSOFT_365

    @property
    def uses_app_credentials(self) -> bool:
        """Authenticated as an Entra ID application (OAuth2 client credentials)."""
        return (
            self.is_graph
            or self.server_type == self.ServerType.EXCHANGE_ONLINE
            or self.incoming_authentication_protocol == self.AuthenticationProtocol.OAUTH
        )
