"""Admin of the sync engine's records: id mappings, folder sync states, pulled messages."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from activities.downloads import download_response
from crmsync.admin_display import admin_link, badge, excerpt, seconds
from mailboxes.models import ExchangeSyncIdMapping, FolderSyncState, ProcessedMessage, SyncRun


@admin.register(ExchangeSyncIdMapping)
class ExchangeSyncIdMappingAdmin(admin.ModelAdmin):
    """Written by the sync engine; an admin resolves manual conflicts or unlinks records."""

    list_display = (
        "item_subject",
        "mailbox",
        "object_type",
        "crm_object_link",
        "user_decision",
        "is_deleted_in_exchange",
        "is_unlinked_in_crm",
        "retries",
        "last_synced_at",
        "last_error_excerpt",
    )
    list_filter = (
        "object_type",
        "user_decision",
        "is_deleted_in_exchange",
        "is_unlinked_in_crm",
        "from_crm_change_type",
        "to_crm_change_type",
    )
    search_fields = (
        "item_subject",
        "exchange_item_id",
        "ical_uid",
        "mailbox__email_address",
        "last_error_text",
        "=last_error_code",
    )
    list_select_related = ("mailbox", "crm_content_type")
    raw_id_fields = ("mailbox",)
    readonly_fields = (
        "mailbox",
        "object_type",
        "crm_content_type",
        "crm_object_id",
        "crm_object_link",
        "exchange_item_id",
        "change_key",
        "ical_uid",
        "exchange_folder_id",
        "crm_fingerprint",
        "exchange_fingerprint",
        "crm_modified_at",
        "exchange_modified_at",
        "from_crm_change_type",
        "to_crm_change_type",
        "is_deleted_in_exchange",
        "crm_snapshot",
        "exchange_snapshot",
        "last_error_text",
        "last_error_code",
        "last_error_at",
        "item_subject",
        "last_synced_at",
        "created_at",
        "modified_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "mailbox",
                    "object_type",
                    "item_subject",
                    ("crm_content_type", "crm_object_id"),
                    "crm_object_link",
                    "exchange_item_id",
                    "change_key",
                    "ical_uid",
                    "exchange_folder_id",
                )
            },
        ),
        (
            "Sync state",
            {
                "fields": (
                    ("crm_fingerprint", "crm_modified_at"),
                    ("exchange_fingerprint", "exchange_modified_at"),
                    ("from_crm_change_type", "to_crm_change_type"),
                    "is_deleted_in_exchange",
                    "is_unlinked_in_crm",
                    "last_synced_at",
                )
            },
        ),
        ("Conflict", {"fields": ("user_decision", "crm_snapshot", "exchange_snapshot")}),
        (
            "Errors",
            {"fields": ("retries", "last_error_text", "last_error_code", "last_error_at")},
        ),
        ("Bookkeeping", {"fields": ("created_at", "modified_at"), "classes": ("collapse",)}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="CRM record")
    def crm_object_link(self, obj: ExchangeSyncIdMapping) -> SafeString | str:
        return admin_link(obj.crm_object)

    @admin.display(description="last error", ordering="last_error_at")
    def last_error_excerpt(self, obj: ExchangeSyncIdMapping) -> str:
        return excerpt(obj.last_error_text)


@admin.register(FolderSyncState)
class FolderSyncStateAdmin(admin.ModelAdmin):
    """Written by the sync engine; deleting a row makes the next pull of that folder full."""

    list_display = (
        "mailbox",
        "protocol",
        "item_type",
        "folder_name",
        "is_initial_sync_complete",
        "last_synced_at",
    )
    list_filter = ("protocol", "item_type", "is_initial_sync_complete")
    search_fields = ("mailbox__email_address", "folder_name", "folder_id")
    list_select_related = ("mailbox",)
    readonly_fields = (
        "mailbox",
        "protocol",
        "item_type",
        "folder_id",
        "folder_name",
        "sync_state",
        "uid_validity",
        "last_uid",
        "is_initial_sync_complete",
        "last_synced_at",
        "created_at",
        "modified_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(admin.ModelAdmin):
    """Written by the sync engine; deleting a row lets the next pull file that message again."""

    list_display = ("processed_at", "mailbox", "sender", "subject", "outcome", "email")
    list_filter = ("outcome", "protocol")
    search_fields = ("mailbox__email_address", "sender", "subject", "message_id", "uid")
    list_select_related = ("mailbox", "email")
    date_hierarchy = "processed_at"
    readonly_fields = (
        "mailbox",
        "protocol",
        "folder_id",
        "uid_validity",
        "uid",
        "email",
        "outcome",
        "processed_at",
        "sender",
        "subject",
        "message_id",
        "reason",
        "raw_message",
    )
    # Shown as `raw_message`, a link through the download view.
    exclude = ("raw_mime",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        raw = path(
            "<int:processed_id>/raw/",
            self.admin_site.admin_view(self.raw_message_view),
            name="mailboxes_processedmessage_raw",
        )
        return [raw, *super().get_urls()]

    @admin.display(description="raw message")
    def raw_message(self, obj: ProcessedMessage) -> SafeString | str:
        # The file's own URL (under MEDIA_URL) is served by nothing: it goes through the
        # download view, which sends it as an attachment, never rendered.
        if not obj.raw_mime:
            return "-"
        url = reverse("admin:mailboxes_processedmessage_raw", args=[obj.pk])
        return format_html('<a href="{}">Download the message as received</a>', url)

    def raw_message_view(self, request: HttpRequest, processed_id: int) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        processed = get_object_or_404(ProcessedMessage, pk=processed_id)
        return download_response(
            processed.raw_mime,
            filename=f"processed-message-{processed.pk}.eml",
            content_type="message/rfc822",
        )


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """One row per sync cycle, written by the engine, kept a week; the dashboard sums them."""

    list_display = (
        "started_at",
        "mailbox",
        "outcome_badge",
        "duration",
        "items_processed",
        "items_failed",
        "error_excerpt",
    )
    list_filter = ("outcome", "mailbox__profile")
    search_fields = ("mailbox__email_address", "error_text")
    list_select_related = ("mailbox",)
    date_hierarchy = "started_at"
    exclude = ("duration_ms",)  # shown in seconds, as "duration"
    readonly_fields = (
        "mailbox",
        "started_at",
        "finished_at",
        "duration",
        "items_processed",
        "items_failed",
        "outcome",
        "error_text",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: SyncRun) -> str:
        return seconds(obj.duration_ms)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: SyncRun) -> SafeString:
        colour = {"success": "success", "transient": "warning", "permanent": "failure"}
        return badge(colour.get(obj.outcome, obj.outcome), obj.get_outcome_display())

    @admin.display(description="error")
    def error_excerpt(self, obj: SyncRun) -> str:
        return excerpt(obj.error_text)
