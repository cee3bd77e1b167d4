"""The Graph subscriptions beat keeps (mailboxes/webhooks): read only; the clientState
secret is never shown."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from mailboxes.models import GraphSubscription


@admin.register(GraphSubscription)
class GraphSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("mailbox", "key", "expires_at", "renewed_at", "last_notification_at")
    list_filter = ("key",)
    search_fields = ("mailbox__email_address", "subscription_id")
    list_select_related = ("mailbox",)
    fields = (
        "mailbox",
        "profile",
        "key",
        "resource",
        "subscription_id",
        "notification_url",
        "expires_at",
        "created_at",
        "renewed_at",
        "last_notification_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Beat makes them (and deletes them at Graph); a person only looks.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
