from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from crmsync.admin_display import badge, excerpt
from profiles.forms import EmailServerProfileAdminForm
from profiles.models import EmailServerProfile

LAST_TEST_FIELDS = (
    "last_test_status",
    "last_test_started_at",
    "last_test_duration_ms",
    "last_test_message",
)


@admin.register(EmailServerProfile)
class EmailServerProfileAdmin(admin.ModelAdmin):
    form = EmailServerProfileAdminForm
    list_display = (
        "name",
        "server_type",
        "is_active",
        "is_default",
        "mailbox_count",
        "max_concurrent_connections",
        "min_polling_interval_minutes",
        "last_test_badge",
        "last_test_started_at",
        "last_test_excerpt",
    )
    list_filter = (
        "server_type",
        "is_active",
        "is_default",
        "last_test_status",
        "incoming_credential_retrieval",
        "incoming_authentication_protocol",
    )
    search_fields = (
        "name",
        "description",
        "incoming_server_location",
        "outgoing_server_location",
        "incoming_username",
        "outgoing_username",
    )
    autocomplete_fields = ("owner",)
    readonly_fields = (*LAST_TEST_FIELDS, "created_at", "modified_at")
    actions = ("activate_profiles", "deactivate_profiles")
    fieldsets = (
        (
            None,
            {"fields": ("name", "description", "owner", "is_active", "is_default", "server_type")},
        ),
        (
            "Incoming server",
            {
                "fields": (
                    "incoming_server_location",
                    "incoming_port",
                    "incoming_use_ssl",
                    "incoming_use_autodiscover",
                    "incoming_authentication_protocol",
                    "incoming_credential_retrieval",
                    "incoming_use_impersonation",
                    "incoming_username",
                    "incoming_password",
                    "clear_incoming_password",
                    "use_same_settings_for_outgoing",
                )
            },
        ),
        (
            "Outgoing server",
            {
                "fields": (
                    "outgoing_server_location",
                    "outgoing_port",
                    "outgoing_use_ssl",
                    "outgoing_use_autodiscover",
                    "outgoing_authentication_protocol",
                    "outgoing_credential_retrieval",
                    "outgoing_use_impersonation",
                    "outgoing_username",
                    "outgoing_password",
                    "clear_outgoing_password",
                ),
                "description": "Ignored when the incoming settings are used for outgoing too.",
            },
        ),
        ("Exchange", {"fields": ("exchange_version",)}),
        (
            "Scheduling and limits",
            {
                "fields": (
                    "max_concurrent_connections",
                    "min_polling_interval_minutes",
                    "connection_timeout_ms",
                )
            },
        ),
        (
            "Email processing",
            {
                "fields": (
                    "process_emails_received_after",
                    "move_undelivered_emails",
                    "send_alert_on_failures",
                )
            },
        ),
        ("Last test", {"fields": LAST_TEST_FIELDS}),
        ("Bookkeeping", {"fields": ("created_at", "modified_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[EmailServerProfile]:
        return super().get_queryset(request).annotate(mailbox_total=Count("mailboxes"))

    @admin.display(description="mailboxes", ordering="mailbox_total")
    def mailbox_count(self, obj: EmailServerProfile) -> SafeString:
        url = reverse("admin:mailboxes_mailbox_changelist") + f"?profile__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, getattr(obj, "mailbox_total", 0))

    @admin.display(description="last test", ordering="last_test_status")
    def last_test_badge(self, obj: EmailServerProfile) -> SafeString:
        return badge(obj.last_test_status, obj.get_last_test_status_display())

    @admin.display(description="last test message")
    def last_test_excerpt(self, obj: EmailServerProfile) -> str:
        return excerpt(obj.last_test_message)

    @admin.action(description="Activate the selected profiles")
    def activate_profiles(
        self, request: HttpRequest, queryset: QuerySet[EmailServerProfile]
    ) -> None:
        count = queryset.filter(is_active=False).update(is_active=True, modified_at=timezone.now())
        message = ngettext("%d profile activated.", "%d profiles activated.", count) % count
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Deactivate the selected profiles")
    def deactivate_profiles(
        self, request: HttpRequest, queryset: QuerySet[EmailServerProfile]
    ) -> None:
        count = queryset.filter(is_active=True).update(is_active=False, modified_at=timezone.now())
        message = ngettext("%d profile deactivated.", "%d profiles deactivated.", count) % count
        self.message_user(request, message, messages.SUCCESS)
