from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from crmsync.admin_display import badge, excerpt
from mailboxes.models import Alert


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not acknowledged"), ("yes", "Acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Raised by the sync engine; an admin reads and acknowledges them."""

    list_display = (
        "created_at",
        "severity_badge",
        "mailbox",
        "profile",
        "code",
        "message_excerpt",
        "acknowledged_at",
        "acknowledged_by",
    )
    list_filter = (AcknowledgedFilter, "severity", "staff_only", "profile", "code")
    search_fields = ("message", "code", "mailbox__email_address", "profile__name")
    list_select_related = ("mailbox", "profile", "acknowledged_by")
    date_hierarchy = "created_at"
    readonly_fields = (
        "severity",
        "mailbox",
        "profile",
        "code",
        "message",
        "staff_only",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
    )
    actions = ("acknowledge_alerts",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj: Alert) -> SafeString:
        return badge(obj.severity, obj.get_severity_display())

    @admin.display(description="message")
    def message_excerpt(self, obj: Alert) -> str:
        return excerpt(obj.message, 120)

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge_alerts(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        count = queryset.filter(acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=request.user
        )
        message = ngettext("%d alert acknowledged.", "%d alerts acknowledged.", count) % count
        self.message_user(request, message, messages.SUCCESS)
