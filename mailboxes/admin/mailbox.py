"""Admin of queues, mailboxes and their options and tracking folders."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from crmsync.admin_display import admin_link, badge
from mailboxes import channels
from mailboxes.admin.dashboard import dashboard_context
from mailboxes.admin.mailbox_form import (
    MAILBOX_ERROR_FIELDS,
    MAILBOX_SCHEDULING_FIELDS,
    MAILBOX_STATUS_FIELDS,
    MailboxFormByType,
)
from mailboxes.admin.move_to_graph import move_to_graph
from mailboxes.forms import (
    ItemTypeSyncOptionsAdminForm,
    MailboxAdminForm,
    TrackingFolderAdminForm,
)
from mailboxes.models import (
    MAX_TRACKING_FOLDERS,
    ExchangeFolderListing,
    ItemTypeSyncOptions,
    Mailbox,
    MailboxTrackingFolder,
    Queue,
)
from mailboxes.status_words import status_of
from mailboxes.sync import admin_actions, eligibility
from mailboxes.web import why


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "email_address",
        "owner",
        "incoming_delivery_method",
        "outgoing_delivery_method",
        "mailbox_link",
    )
    list_filter = ("incoming_delivery_method", "outgoing_delivery_method")
    search_fields = ("name", "email_address", "owner__username", "owner__email")
    autocomplete_fields = ("owner",)
    filter_horizontal = ("members",)
    list_select_related = ("owner", "mailbox")
    readonly_fields = ("created_at", "modified_at")

    @admin.display(description="mailbox")
    def mailbox_link(self, obj: Queue) -> SafeString | str:
        return admin_link(getattr(obj, "mailbox", None))


class ItemTypeSyncOptionsInline(admin.StackedInline):
    model = ItemTypeSyncOptions
    form = ItemTypeSyncOptionsAdminForm
    extra = 0
    max_num = len(ItemTypeSyncOptions.SYNCED_TYPES)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("item_type", "is_enabled"),
                    ("crm_to_exchange", "exchange_to_crm"),
                    ("delete_crm_to_exchange", "delete_exchange_to_crm"),
                    ("conflict_strategy", "exchange_delete_mode"),
                    "categories",
                    "sync_from",
                    ("contact_import_scope", "contact_import_folders"),
                    ("contact_export_scope", "contact_export_categories"),
                    "confirm_change",
                )
            },
        ),
    )


class MailboxTrackingFolderInline(admin.TabularInline):
    model = MailboxTrackingFolder
    extra = 0
    # The model's clean() counts saved rows only; the formset must not add past the limit.
    max_num = MAX_TRACKING_FOLDERS
    fields = (
        "exchange_folder_name",
        "exchange_folder_id",
        "regarding_content_type",
        "regarding_object_id",
        "onboarding_status",
    )
    readonly_fields = ("onboarding_status",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        # A hand-made post can hold more forms than max_num; validate_max refuses it.
        kwargs["validate_max"] = True
        # Folders picked from the mailbox's listed ones (its "Refresh folder list").
        listing = ExchangeFolderListing.objects.filter(mailbox=obj).first() if obj else None
        listed = listing.folders if listing and isinstance(listing.folders, list) else []
        kwargs["form"] = type(
            "ListedTrackingFolderForm", (TrackingFolderAdminForm,), {"listed": listed}
        )
        return super().get_formset(request, obj, **kwargs)


class OwnerKindFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("user", "User"), ("queue", "Queue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "user":
            return queryset.filter(user__isnull=False)
        if self.value() == "queue":
            return queryset.filter(queue__isnull=False)
        return queryset


APPROVED = Mailbox.ApprovalStatus.APPROVED
REJECTED = Mailbox.ApprovalStatus.REJECTED


@admin.register(Mailbox)
class MailboxAdmin(MailboxFormByType, admin.ModelAdmin):
    form = MailboxAdminForm
    inlines = (ItemTypeSyncOptionsInline, MailboxTrackingFolderInline)
    # Important first, and narrow enough for a 1366 px screen: the status says in words
    # what approval, activity and the last error used to say in four columns.
    list_display = (
        "email_address",
        "owner_link",
        "status_badge",
        "incoming_badge",
        "outgoing_badge",
        "act_badge",
        "last_success_at",
        "profile",
    )
    list_filter = (
        "approval_status",
        "is_active",
        "profile",
        OwnerKindFilter,
        *(channel.status_field for channel in channels.CHANNELS),
        "incoming_delivery_method",
        "outgoing_delivery_method",
        "act_delivery_method",
        "is_forward_mailbox",
    )
    search_fields = (
        "email_address",
        "name",
        "username",
        "user__username",
        "user__email",
        "queue__name",
        "last_error_text",
        "last_error_code",
    )
    list_select_related = ("user", "queue", "profile")
    autocomplete_fields = ("user", "queue", "profile")
    readonly_fields = (
        *MAILBOX_STATUS_FIELDS,
        *MAILBOX_ERROR_FIELDS,
        *MAILBOX_SCHEDULING_FIELDS,
        "approved_email_address",
        "created_at",
        "modified_at",
    )
    actions = (
        "approve_mailboxes",
        "reject_mailboxes",
        "test_and_enable_mailboxes",
        "sync_mailboxes_now",
        "full_resync_mailboxes",
        move_to_graph,
        "activate_mailboxes",
        "deactivate_mailboxes",
    )

    def get_urls(self) -> list[URLPattern]:
        health = path(
            "health/",
            self.admin_site.admin_view(self.health_dashboard_view),
            name="mailboxes_health_dashboard",
        )
        track = path(
            "<int:mailbox_id>/processed/<int:record_id>/track/",
            self.admin_site.admin_view(self.track_now_view),
            name="mailboxes_mailbox_track_now",
        )
        # Before the default URLs, whose "<object_id>/" would swallow "health/".
        return [health, track, *self.form_urls(), *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The change form, with the "why was this not tracked?" search under it."""
        mailbox = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if mailbox is not None and request.method == "GET":
            track = self.has_change_permission(request, mailbox)
            context.update(
                why.page_context(
                    mailbox,
                    request.GET.get("why", ""),
                    reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk]),
                    lambda record: (
                        reverse("admin:mailboxes_mailbox_track_now", args=[mailbox.pk, record.pk])
                        if track
                        else ""
                    ),
                )
            )
        return super().change_view(request, object_id, form_url, context)

    def track_now_view(self, request: HttpRequest, mailbox_id: int, record_id: int) -> HttpResponse:
        mailbox = self.get_object(request, str(mailbox_id))
        if mailbox is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, mailbox):
            raise PermissionDenied
        user = request.user
        started, said = why.ask_to_track(record_id, mailbox, user, live=False)  # type: ignore[arg-type]
        self.message_user(request, said, messages.SUCCESS if started else messages.ERROR)
        query = urlencode({"why": request.POST.get("why", "")})
        change = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
        return HttpResponseRedirect(f"{change}?{query}#why")

    def health_dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **dashboard_context(),
            "title": "Sync health",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/mailboxes/health_dashboard.html", context)

    @admin.action(description="Test & enable the selected mailboxes", permissions=["change"])
    def test_and_enable_mailboxes(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        # Only mailboxes that may connect: a test never turns a rejected one back on.
        allowed = eligibility.may_connect_q()
        admin_actions.test_and_enable_mailboxes(request, queryset.filter(allowed))
        self._report_skipped(request, queryset.exclude(allowed).count())

    @admin.action(description="Sync the selected mailboxes now", permissions=["change"])
    def sync_mailboxes_now(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        allowed = eligibility.may_connect_q()
        admin_actions.sync_now(request, queryset.filter(allowed))
        self._report_skipped(request, queryset.exclude(allowed).count())

    @admin.action(
        description="Full resync of the selected mailboxes (pull everything again)",
        permissions=["change"],
    )
    def full_resync_mailboxes(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        allowed = eligibility.may_connect_q()
        admin_actions.full_resync(request, queryset.filter(allowed))
        self._report_skipped(request, queryset.exclude(allowed).count())

    def _report_skipped(self, request: HttpRequest, skipped: int) -> None:
        if skipped:
            message = ngettext(
                "%d mailbox skipped: inactive, not approved, its address not approved, or "
                "without an active profile.",
                "%d mailboxes skipped: inactive, not approved, their address not approved, "
                "or without an active profile.",
                skipped,
            )
            self.message_user(request, message % skipped, messages.WARNING)

    @admin.action(description="Approve the selected mailboxes")
    def approve_mailboxes(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        # The approval covers each mailbox's current address.
        count = self._change(queryset, **eligibility.APPROVE)
        self._report(
            request, ngettext("%d mailbox approved.", "%d mailboxes approved.", count), count
        )

    @admin.action(description="Reject the selected mailboxes")
    def reject_mailboxes(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        count = self._change(queryset, approval_status=REJECTED)
        self._report(
            request, ngettext("%d mailbox rejected.", "%d mailboxes rejected.", count), count
        )

    @admin.action(description="Activate the selected mailboxes")
    def activate_mailboxes(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        count = self._change(queryset, is_active=True)
        self._report(
            request, ngettext("%d mailbox activated.", "%d mailboxes activated.", count), count
        )

    @admin.action(description="Deactivate the selected mailboxes")
    def deactivate_mailboxes(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        count = self._change(queryset, is_active=False)
        self._report(
            request, ngettext("%d mailbox deactivated.", "%d mailboxes deactivated.", count), count
        )

    def save_model(self, request: HttpRequest, obj: Mailbox, form: Any, change: bool) -> None:
        # Choosing "Approved" approves the address in the form; changing the address of an
        # approved mailbox without choosing it again asks for a new approval.
        if "approval_status" in form.changed_data and obj.approval_status == APPROVED:
            eligibility.approve(obj)
        elif "email_address" in form.changed_data:
            eligibility.address_changed(obj)
        super().save_model(request, obj, form, change)

    @staticmethod
    def _change(queryset: QuerySet[Mailbox], **changes: Any) -> int:
        """Updates the selected mailboxes not yet in the new state; returns how many."""
        return queryset.exclude(**changes).update(**changes, modified_at=timezone.now())

    def _report(self, request: HttpRequest, template: str, count: int) -> None:
        self.message_user(request, template % count, messages.SUCCESS)

    @admin.display(description="owner")
    def owner_link(self, obj: Mailbox) -> SafeString | str:
        return admin_link(obj.owner)

    @admin.display(description="status", ordering="last_error_kind")
    def status_badge(self, obj: Mailbox) -> SafeString:
        """The status in the words of the self-service page; why, and the server's own
        text, on hover."""
        status = status_of(obj)
        title = " ".join(part for part in (status.reason, status.details) if part)
        level = "success" if status.level == "ok" else status.level
        return format_html('<span title="{}">{}</span>', title, badge(level, status.words))

    @admin.display(description="in", ordering="incoming_status")
    def incoming_badge(self, obj: Mailbox) -> SafeString:
        return badge(obj.incoming_status, obj.get_incoming_status_display())

    @admin.display(description="out", ordering="outgoing_status")
    def outgoing_badge(self, obj: Mailbox) -> SafeString:
        return badge(obj.outgoing_status, obj.get_outgoing_status_display())

    @admin.display(description="appointments, contacts, tasks", ordering="act_status")
    def act_badge(self, obj: Mailbox) -> SafeString:
        return badge(obj.act_status, obj.get_act_status_display())


@admin.register(ItemTypeSyncOptions)
class ItemTypeSyncOptionsAdmin(admin.ModelAdmin):
    list_display = (
        "mailbox",
        "item_type",
        "is_enabled",
        "crm_to_exchange",
        "exchange_to_crm",
        "conflict_strategy",
        "exchange_delete_mode",
    )
    list_filter = ("item_type", "is_enabled", "conflict_strategy", "exchange_delete_mode")
    search_fields = ("mailbox__email_address",)
    list_select_related = ("mailbox",)
    autocomplete_fields = ("mailbox",)
    form = ItemTypeSyncOptionsAdminForm


@admin.register(MailboxTrackingFolder)
class MailboxTrackingFolderAdmin(admin.ModelAdmin):
    list_display = (
        "exchange_folder_name",
        "mailbox",
        "regarding_content_type",
        "regarding_object_id",
        "onboarding_status",
        "created_at",
    )
    list_filter = ("onboarding_status", "regarding_content_type")
    search_fields = ("exchange_folder_name", "exchange_folder_id", "mailbox__email_address")
    list_select_related = ("mailbox", "regarding_content_type")
    autocomplete_fields = ("mailbox",)
    readonly_fields = ("onboarding_status", "created_at", "modified_at")
