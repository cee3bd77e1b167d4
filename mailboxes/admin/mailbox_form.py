"""The admin's mailbox form by server type: only the fields that apply to the mailbox's
profile, as `mailboxes/fields_by_type.py` defines them for this form and the self-service
one (credentials when it takes the mailbox's own, appointments, contacts and tasks on
Exchange and Microsoft 365 for a user's mailbox, "process and delete" on POP3), plain labels
(durations in seconds, no "act"), the status in the words of the self-service page, and a
Test & enable button.

The page carries every field; those that do not apply to the profile in effect (the saved
one; for a new mailbox the one it is added on, the add page's `?profile=<id>`) are hidden by
a style written with the page, and `crmsync/static/crmsync/mailbox_form.js` shows the fields
of another profile (or owner) as soon as it is picked, before anything is saved. What is
posted is taken by the profile posted: a field it has no use for is not saved (a mailbox on a
Microsoft 365 profile never gets a user name or password, whose application credentials live
on the profile). A new mailbox without a chosen profile, or one without a profile, shows
every field (a queue's never shows appointments, contacts and tasks).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from crmsync.admin_display import seconds
from mailboxes import fields_by_type
from mailboxes.models import ExchangeFolderListing, Mailbox
from mailboxes.status_words import status_of
from mailboxes.sync import admin_actions, eligibility
from mailboxes.web.live import live_state
from profiles.models import EmailServerProfile

MAILBOX_STATUS_FIELDS = (
    "status_in_words",
    "incoming_status",
    "outgoing_status",
    "act_status",
    "test_status",
    "tested_at",
    "incoming_processed_at",
    "outgoing_processed_at",
    "act_processed",
    "items_processed",
    "items_failed",
    "last_sync_started_at",
    "last_success_at",
    "last_duration",
    "average_duration",
    "idle_cycles",
)
MAILBOX_ERROR_FIELDS = (
    "last_error_text",
    "last_error_code",
    "last_error_at",
    "failing_since",
    "error_count",
    "transient_failure_count",
)
MAILBOX_SCHEDULING_FIELDS = (
    "incoming_postpone_until",
    "outgoing_postpone_until",
    "act_postponed",
    "next_due_at",
    "claimed_by",
    "claimed_at",
    "claim_expires_at",
)
MAILBOX_FIELDSETS: tuple[tuple[str | None, dict[str, Any]], ...] = (
    (
        None,
        {
            "fields": (
                ("user", "queue"),
                "name",
                "email_address",
                "profile",
                "approval_status",
                "approved_email_address",
                "is_active",
                "is_forward_mailbox",
            )
        },
    ),
    (
        "Delivery methods",
        {
            "fields": (
                "incoming_delivery_method",
                "outgoing_delivery_method",
                "act_delivery_method",
                "send_invitations",
            )
        },
    ),
    (
        "Credentials",
        {
            "fields": ("username", "password", "clear_password"),
            "description": "The profile signs in with each mailbox's own user name and password.",
        },
    ),
    (
        "Email processing",
        {"fields": ("tracking_option", "process_and_delete", "process_emails_received_after")},
    ),
    ("Status", {"fields": MAILBOX_STATUS_FIELDS}),
    ("Last error", {"fields": MAILBOX_ERROR_FIELDS}),
    ("Scheduling", {"fields": MAILBOX_SCHEDULING_FIELDS, "classes": ("collapse",)}),
    ("Bookkeeping", {"fields": ("created_at", "modified_at"), "classes": ("collapse",)}),
)
# Appointments, contacts and tasks (`fields_by_type.ACT`) with their status and options.
ACT_FIELDS = fields_by_type.ACT | {"act_status", "act_processed", "act_postponed"}
# The options of appointments, contacts and tasks (the inline), hidden with their fields.
OPTIONS_INLINE = "sync_options"
SPECIFIC = sorted(fields_by_type.SPECIFIC | ACT_FIELDS | {OPTIONS_INLINE})


def left_out_for(profile: EmailServerProfile | None, *, is_queue: bool) -> frozenset[str]:
    """The fields (and `OPTIONS_INLINE`) that do not apply to a mailbox of this owner kind
    on this profile (`fields_by_type`); while no profile is chosen, all of them show but
    a queue's appointments, contacts and tasks."""
    if profile is None:
        return frozenset(ACT_FIELDS | {OPTIONS_INLINE}) if is_queue else frozenset()
    shown = fields_by_type.fields_shown(profile, is_queue=is_queue)
    left_out = set(fields_by_type.SPECIFIC - shown)
    if not shown & fields_by_type.ACT:
        left_out |= ACT_FIELDS | {OPTIONS_INLINE}
    return frozenset(left_out)


def fields_left_out(mailbox: Mailbox | None) -> frozenset[str]:
    """What does not apply to this mailbox, by its saved profile and owner."""
    if mailbox is None:
        return frozenset()
    return left_out_for(mailbox.profile, is_queue=mailbox.queue_id is not None)


def fields_by_profile() -> dict[str, Any]:
    """What `mailbox_form.js` hides for each profile and owner kind ("" is no profile)."""
    profiles: list[EmailServerProfile | None] = [None, *EmailServerProfile.objects.all()]
    return {
        "specific": SPECIFIC,
        "by_profile": {
            str(profile.pk if profile else ""): {
                kind: sorted(left_out_for(profile, is_queue=kind == "queue"))
                for kind in ("user", "queue")
            }
            for profile in profiles
        },
    }


def left_out_style(left_out: frozenset[str]) -> str:
    """The style that hides them before any script runs (and without one)."""
    selectors = [
        f"#{OPTIONS_INLINE}-group" if name == OPTIONS_INLINE else f".form-row.field-{name}"
        for name in sorted(left_out)
    ]
    if not selectors:
        return ""
    return ", ".join([*selectors, "fieldset.crmsync-left-out"]) + " { display: none; }"


def _chosen(request: HttpRequest) -> tuple[EmailServerProfile | None, bool | None]:
    """The profile posted (or given to the add page), and whether the owner posted is a
    queue (None when no owner is posted)."""
    data = request.POST if request.method == "POST" else request.GET
    chosen = data.get("profile") or ""
    profile = (
        EmailServerProfile.objects.filter(pk=int(chosen)).first() if chosen.isdigit() else None
    )
    if request.method != "POST":
        return profile, None
    return profile, bool(data.get("queue"))


def left_out_in_effect(request: HttpRequest, mailbox: Mailbox | None) -> frozenset[str]:
    """What the form leaves out: by the profile and owner posted; on a page, by the saved
    mailbox, or the profile a new one is added on."""
    if request.method == "POST":
        profile, is_queue = _chosen(request)
        return left_out_for(profile, is_queue=bool(is_queue))
    if mailbox is not None:
        return fields_left_out(mailbox)
    profile, _ = _chosen(request)
    # A new mailbox's owner is not chosen yet: its appointments, contacts and tasks show.
    return left_out_for(profile, is_queue=False) - ACT_FIELDS - {OPTIONS_INLINE}


def _without(fields: tuple[Any, ...], left_out: frozenset[str]) -> tuple[Any, ...]:
    kept: list[Any] = []
    for field in fields:
        if isinstance(field, tuple):
            line = tuple(name for name in field if name not in left_out)
            if line:
                kept.append(line if len(line) > 1 else line[0])
        elif field not in left_out:
            kept.append(field)
    return tuple(kept)


class MailboxFormByType(admin.ModelAdmin):
    """Mixed into MailboxAdmin: the form's fieldsets, labels and Test & enable button."""

    fieldsets = MAILBOX_FIELDSETS  # type: ignore[assignment]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """A page carries every field (a fieldset none of whose fields applies is marked to
        be hidden); a post takes only the fields of the profile posted."""
        left_out = left_out_in_effect(request, obj)
        fieldsets: list[tuple[Any, dict[str, Any]]] = []
        for name, options in super().get_fieldsets(request, obj):
            fields = _without(tuple(options["fields"]), left_out)
            if request.method == "POST":
                if fields:
                    fieldsets.append((name, {**options, "fields": fields}))
            elif fields:
                fieldsets.append((name, dict(options)))
            else:
                classes = (*options.get("classes", ()), "crmsync-left-out")
                fieldsets.append((name, {**options, "classes": classes}))
        return fieldsets

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        inlines = super().get_inline_instances(request, obj)
        if request.method == "POST" and OPTIONS_INLINE in left_out_in_effect(request, obj):
            # No appointments, contacts or tasks on the profile posted: options not taken.
            return [i for i in inlines if i.model._meta.model_name != "itemtypesyncoptions"]
        return inlines

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        context["mailbox_form_fields"] = fields_by_profile()
        context["worker_wait_seconds"] = settings.CRMSYNC_WORKER_WAIT_SECONDS
        context["left_out_style"] = left_out_style(left_out_in_effect(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def form_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:mailbox_id>/test-and-enable/",
                self.admin_site.admin_view(self.test_and_enable_view),
                name="mailboxes_mailbox_test_and_enable",
            ),
            path(
                "<int:mailbox_id>/refresh-folders/",
                self.admin_site.admin_view(self.refresh_folders_view),
                name="mailboxes_mailbox_refresh_folders",
            ),
            path(
                "<int:mailbox_id>/state/",
                self.admin_site.admin_view(self.state_view),
                name="mailboxes_mailbox_state",
            ),
        ]

    def refresh_folders_view(self, request: HttpRequest, mailbox_id: int) -> HttpResponse:
        """The form's Refresh folder list: a worker lists the folders under the Inbox and the
        contact folders, which the tracking folders and the contact options pick from."""
        mailbox = self.get_object(request, str(mailbox_id))
        if mailbox is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, mailbox):
            raise PermissionDenied
        from mailboxes.web.actions import enqueue_mailbox_task  # it imports the tasks

        refusal = eligibility.refusal(mailbox)
        if not fields_by_type.lists_folders(mailbox.profile):
            refusal = "folders can be listed on Exchange and Microsoft 365 mailboxes only."
        if refusal:
            self.message_user(request, f"Folders were not listed: {refusal}", messages.WARNING)
        else:
            # Recorded before the task is queued, so the worker's answer always comes after.
            ExchangeFolderListing.objects.update_or_create(
                mailbox=mailbox, defaults={"requested_at": timezone.now()}
            )
            result = enqueue_mailbox_task(
                "list_exchange_folders", mailbox.pk, what="Listing the mailbox's folders"
            )
            if result.ok:
                # This page does not follow the worker: say so (the self-service one does).
                said = (
                    "The mailbox's folders are being listed on a worker: reload this page in a "
                    "moment to pick tracking and contact folders from the new list."
                )
                self.message_user(request, said, messages.INFO)
            else:
                self.message_user(request, result.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk]))

    def state_view(self, request: HttpRequest, mailbox_id: int) -> JsonResponse:
        """The mailbox's live state, as the self-service page polls it (`live_state`): what
        the form's Test & enable waits for. Staff who may view the mailbox only."""
        mailbox = self.get_object(request, str(mailbox_id))
        if mailbox is None:
            raise Http404
        if not self.has_view_permission(request, mailbox):
            raise PermissionDenied
        return JsonResponse(live_state(mailbox), headers={"Cache-Control": "no-store"})

    def test_and_enable_view(self, request: HttpRequest, mailbox_id: int) -> HttpResponse:
        """The form's Test & enable button: the list action for this one mailbox."""
        mailbox = self.get_object(request, str(mailbox_id))
        if mailbox is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, mailbox):
            raise PermissionDenied
        queryset = Mailbox.objects.filter(pk=mailbox.pk)
        refusal = eligibility.refusal(mailbox)
        if refusal:
            self.message_user(request, f"Not tested: {refusal}", messages.WARNING)
        else:
            admin_actions.test_and_enable_mailboxes(request, queryset)
        return HttpResponseRedirect(reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk]))

    @admin.display(description="status")
    def status_in_words(self, obj: Mailbox) -> SafeString:
        status = status_of(obj)
        return format_html(
            "<strong>{}</strong>{}",
            status.words,
            format_html(" — {}", status.reason) if status.reason else "",
        )

    @admin.display(description="appointments, contacts and tasks processed at")
    def act_processed(self, obj: Mailbox) -> str:
        # Shown as the admin shows the other times (a callable's value is not formatted).
        return str(display_for_value(obj.act_processed_at, "-"))

    @admin.display(description="appointments, contacts and tasks postponed until")
    def act_postponed(self, obj: Mailbox) -> str:
        return str(display_for_value(obj.act_postpone_until, "-"))

    @admin.display(description="last duration")
    def last_duration(self, obj: Mailbox) -> str:
        return seconds(obj.last_duration_ms)

    @admin.display(description="average duration")
    def average_duration(self, obj: Mailbox) -> str:
        return seconds(obj.average_duration_ms)
