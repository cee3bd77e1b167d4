from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminFileWidget
from django.db import models
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.forms import ModelForm
from django.http import HttpRequest

from activities.downloads import download_url
from activities.models import (
    Account,
    ActivityParty,
    Appointment,
    Attachment,
    ChangeOrigin,
    Contact,
    Email,
    Task,
)
from crmsync.admin_display import admin_link

OWNER_FIELDS: tuple[str, ...] = ("owner_user", "owner_queue")
ORIGIN_FIELDS: tuple[str, ...] = (
    "change_origin",
    "change_origin_mailbox",
    "created_at",
    "modified_at",
)
REGARDING_FIELDS = ("regarding_content_type", "regarding_object_id")


def laid_out(
    fields: tuple[str, ...], *, rows: tuple[tuple[str, ...], ...]
) -> tuple[str | tuple[str, ...], ...]:
    """`fields` in their order for a fieldset, each of `rows` on one line where its first
    field stands: the record's content fields shown from their one list."""
    row_of = {name: row for row in rows for name in row}
    return tuple(
        row_of.get(name, name) for name in fields if name not in row_of or row_of[name][0] == name
    )


class _DownloadLink:
    """A stored file as the file widget shows it, linked to its download view."""

    def __init__(self, stored: FieldFile) -> None:
        self.url = download_url(stored.instance)
        self.name = stored.name or ""

    def __str__(self) -> str:
        return self.name


class DownloadViewFileWidget(AdminFileWidget):
    """The admin's file input, whose "currently" link goes through the download view.

    The stored file's own URL (under MEDIA_URL) is served by nothing.
    """

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        if context["widget"]["is_initial"]:
            context["widget"]["value"] = _DownloadLink(value)
        return context


STORED_FILES: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.FileField: {"widget": DownloadViewFileWidget}
}


class OwnedRecordAdmin(admin.ModelAdmin):
    """Owner pickers, read-only bookkeeping, and admin edits marked as CRM user changes."""

    autocomplete_fields = OWNER_FIELDS
    readonly_fields = ORIGIN_FIELDS
    list_select_related = OWNER_FIELDS

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        # An edit here is a CRM change: the sync must push it to every mailbox, including the
        # one whose sync wrote the record last.
        obj.change_origin = ChangeOrigin.CRM_USER
        obj.change_origin_mailbox = None
        super().save_model(request, obj, form, change)

    @admin.display(description="owner")
    def owner_link(self, obj: Any) -> Any:
        return admin_link(obj.owner)


class PartyInline(admin.TabularInline):
    model = ActivityParty
    extra = 0
    fields = ("role", "address", "display_name", "user", "contact", "account", "queue", "response")
    autocomplete_fields = ("user", "contact", "account", "queue")


class EmailPartyInline(PartyInline):
    fk_name = "email"


class AppointmentPartyInline(PartyInline):
    fk_name = "appointment"


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    formfield_overrides = STORED_FILES
    fields = ("filename", "file", "content_type", "size", "is_inline", "content_id", "error")
    readonly_fields = ("size", "error")


class EmailAttachmentInline(AttachmentInline):
    fk_name = "email"


class AppointmentAttachmentInline(AttachmentInline):
    fk_name = "appointment"


class TaskAttachmentInline(AttachmentInline):
    fk_name = "task"


@admin.register(Account)
class AccountAdmin(OwnedRecordAdmin):
    list_display = ("name", "email_address", "phone", "owner_link", "modified_at")
    search_fields = ("name", "email_address", "phone", "website")
    list_filter = ("change_origin",)
    # A web address typed without a scheme is taken as https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "email_address", "phone", "website", "description")}),
        ("Owner", {"fields": OWNER_FIELDS}),
        ("Bookkeeping", {"fields": ORIGIN_FIELDS, "classes": ("collapse",)}),
    )


@admin.register(Contact)
class ContactAdmin(OwnedRecordAdmin):
    list_display = (
        "__str__",
        "email_address1",
        "company_name",
        "account",
        "owner_link",
        "change_origin",
        "modified_at",
    )
    search_fields = (
        "first_name",
        "last_name",
        "display_name",
        "company_name",
        "email_address1",
        "email_address2",
        "email_address3",
    )
    list_filter = ("change_origin",)
    autocomplete_fields = (*OWNER_FIELDS, "account")
    list_select_related = (*OWNER_FIELDS, "account")
    fieldsets = (
        (
            None,
            {
                "fields": laid_out(
                    Contact.CONTENT_FIELDS,
                    rows=(
                        ("first_name", "middle_name", "last_name"),
                        ("job_title", "department"),
                        ("company_name", "account"),
                    ),
                )
            },
        ),
        ("Owner", {"fields": OWNER_FIELDS}),
        ("Bookkeeping", {"fields": ORIGIN_FIELDS, "classes": ("collapse",)}),
    )


@admin.register(Email)
class EmailAdmin(OwnedRecordAdmin):
    inlines = (EmailPartyInline, EmailAttachmentInline)
    formfield_overrides = STORED_FILES  # the kept raw message
    list_display = (
        "__str__",
        "direction",
        "status",
        "from_address",
        "mailbox",
        "owner_link",
        "received_at",
        "sent_at",
        "change_origin",
    )
    list_filter = ("direction", "status", "change_origin", "mailbox__profile")
    search_fields = (
        "subject",
        "from_address",
        "message_id",
        "conversation_id",
        "tracking_token",
        "mailbox__email_address",
    )
    autocomplete_fields = (*OWNER_FIELDS, "mailbox")
    list_select_related = (*OWNER_FIELDS, "mailbox")
    date_hierarchy = "created_at"
    actions = ("send_again", "mark_sent")
    readonly_fields = (
        *ORIGIN_FIELDS,
        "processing_error",
        "send_attempts",
        "next_attempt_at",
        "send_claimed_by",
        "send_claimed_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "subject",
                    ("direction", "status"),
                    "mailbox",
                    "from_address",
                    ("received_at", "sent_at"),
                    "body_text",
                    "body_html",
                    "categories",
                )
            },
        ),
        ("Owner and regarding", {"fields": (*OWNER_FIELDS, *REGARDING_FIELDS)}),
        (
            "Headers",
            {
                "fields": (
                    "message_id",
                    "in_reply_to",
                    "references",
                    "conversation_id",
                    "tracking_token",
                ),
                "classes": ("collapse",),
            },
        ),
        (
            "Processing",
            {
                "fields": (
                    "raw_mime",
                    "processing_error",
                    "send_attempts",
                    "next_attempt_at",
                    "send_claimed_by",
                    "send_claimed_at",
                )
            },
        ),
        ("Bookkeeping", {"fields": ORIGIN_FIELDS, "classes": ("collapse",)}),
    )

    @admin.action(
        description="Send again (emails that may have been sent, or failed)",
        permissions=["change"],
    )
    def send_again(self, request: HttpRequest, queryset: QuerySet[Email]) -> None:
        from mailboxes.mail.outgoing import send_again

        count = send_again(queryset)
        self.message_user(
            request,
            f"{count} email(s) will be sent again at the mailbox's next sync; "
            "only emails that may have been sent, or failed, are.",
            messages.SUCCESS if count else messages.WARNING,
        )

    @admin.action(
        description="Mark as sent (emails that may have been sent)", permissions=["change"]
    )
    def mark_sent(self, request: HttpRequest, queryset: QuerySet[Email]) -> None:
        from mailboxes.mail.outgoing import mark_sent

        count = mark_sent(queryset)
        self.message_user(
            request,
            f"{count} email(s) marked sent; only emails that may have been sent are.",
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(Appointment)
class AppointmentAdmin(OwnedRecordAdmin):
    inlines = (AppointmentPartyInline, AppointmentAttachmentInline)
    list_display = (
        "__str__",
        "start",
        "end",
        "is_all_day",
        "location",
        "owner_link",
        "is_cancelled",
        "change_origin",
    )
    list_filter = ("is_all_day", "is_cancelled", "busy_status", "change_origin")
    search_fields = ("subject", "location", "ical_uid")
    date_hierarchy = "start"
    raw_id_fields = ("series_master",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "subject",
                    "location",
                    ("start", "end"),
                    ("is_all_day", "time_zone"),
                    ("busy_status", "reminder_minutes"),
                    "description",
                    "categories",
                    "is_cancelled",
                    "exchange_held",
                )
            },
        ),
        ("Owner and regarding", {"fields": (*OWNER_FIELDS, *REGARDING_FIELDS)}),
        (
            "Recurrence",
            {
                "fields": ("recurrence", "series_master", "original_start", "ical_uid"),
                "classes": ("collapse",),
            },
        ),
        ("Bookkeeping", {"fields": ORIGIN_FIELDS, "classes": ("collapse",)}),
    )
    readonly_fields = (*ORIGIN_FIELDS, "exchange_held")

    @admin.display(description="not written to Exchange")
    def exchange_held(self, obj: Appointment) -> str:
        """Why a change of this meeting is held back from a mailbox (README, "Meeting
        invitations"), or "-"."""
        from mailboxes.models import ExchangeSyncIdMapping

        if obj.pk is None:
            return "-"
        held = ExchangeSyncIdMapping.objects.filter(
            object_type="appointment",
            crm_object_id=obj.pk,
            last_error_code=ExchangeSyncIdMapping.MEETING_HELD,
        ).select_related("mailbox")
        return " ".join(f"{m.mailbox.email_address}: {m.last_error_text}" for m in held) or "-"


@admin.register(Task)
class TaskAdmin(OwnedRecordAdmin):
    inlines = (TaskAttachmentInline,)
    list_display = (
        "__str__",
        "status",
        "priority",
        "percent_complete",
        "due_date",
        "owner_link",
        "change_origin",
    )
    list_filter = ("status", "priority", "change_origin")
    search_fields = ("subject", "description")
    date_hierarchy = "due_date"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "subject",
                    ("status", "priority", "percent_complete"),
                    ("start_date", "due_date", "completed_at"),
                    "description",
                    "categories",
                )
            },
        ),
        ("Owner and regarding", {"fields": (*OWNER_FIELDS, *REGARDING_FIELDS)}),
        ("Bookkeeping", {"fields": ORIGIN_FIELDS, "classes": ("collapse",)}),
    )


@admin.register(ActivityParty)
class ActivityPartyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "role", "address", "email", "appointment", "response")
    list_filter = ("role", "response")
    search_fields = ("address", "display_name", "email__subject", "appointment__subject")
    list_select_related = ("email", "appointment")
    raw_id_fields = ("email", "appointment")
    autocomplete_fields = ("user", "contact", "account", "queue")


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("filename", "content_type", "size", "is_inline", "email", "appointment", "task")
    list_filter = ("is_inline", "content_type")
    search_fields = ("filename", "content_id", "email__subject", "appointment__subject")
    list_select_related = ("email", "appointment", "task")
    raw_id_fields = ("email", "appointment", "task")
    readonly_fields = ("created_at",)
    formfield_overrides = STORED_FILES
