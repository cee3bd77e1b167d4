"""The Exchange folder lists the workers stored for the self-service pages: read only."""

from django.contrib import admin
from django.http import HttpRequest

from mailboxes.models import ExchangeFolderListing


@admin.register(ExchangeFolderListing)
class ExchangeFolderListingAdmin(admin.ModelAdmin):
    list_display = ("mailbox", "folder_count", "listed_at", "requested_at", "error_at")
    search_fields = ("mailbox__email_address",)
    list_select_related = ("mailbox",)
    readonly_fields = ("mailbox", "folders", "requested_at", "listed_at", "error_text", "error_at")

    @admin.display(description="folders")
    def folder_count(self, obj: ExchangeFolderListing) -> int:
        return len(obj.folders)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A worker writes these; a person asks for one on the mailbox's page.
        return False
