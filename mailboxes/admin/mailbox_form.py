"""The admin's mailbox form by server type: only the fields that apply to the mailbox's
profile (credentials when it takes the mailbox's own, appointments, contacts and tasks on
Exchange and Microsoft 365 for a user's mailbox, "process and delete" on POP3), plain labels
(durations in seconds, no "act"), the status in the words of the self-service page, and a
Test & enable button.

The choice follows the saved profile: an administrator who picks another profile sees its
fields once the form is saved. A new mailbox follows the profile it is added on (the add
page's `?profile=<id>`, or the profile posted): one on a Microsoft 365 profile is never asked
for a user name or password, whose application credentials live on the profile. A new
mailbox without a chosen profile, or one without a profile, shows every field (a queue's
never shows appointments, contacts and tasks).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from mailboxes.models import Mailbox
from mailboxes.status_words import status_of
from mailboxes.sync import admin_actions, eligibility
from mailboxes.web.forms import takes_mailbox_credentials
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
    "act_postpone_until",
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
# Appointments, contacts and tasks: only an Exchange store (EWS or Graph) of a user has them.
ACT_FIELDS = frozenset(
    {"act_delivery_method", "send_invitations", "act_status", "act_processed", "act_postpone_until"}
)
CREDENTIAL_FIELDS = frozenset({"username", "password", "clear_password"})


def has_act(mailbox: Mailbox) -> bool:
    """Whether appointments, contacts and tasks can apply: never to a queue (a shared inbox),
    on Exchange or Microsoft 365 only (and maybe when no profile is chosen yet)."""
    profile = mailbox.profile
    return mailbox.queue_id is None and (profile is None or profile.is_microsoft)


def fields_left_out(mailbox: Mailbox | None) -> frozenset[str]:
    """The fields that do not apply to this mailbox: by its profile's server type, all of
    them shown while no profile is chosen."""
    if mailbox is None:
        return frozenset()
    left_out = set() if has_act(mailbox) else set(ACT_FIELDS)
    return frozenset(left_out | profile_fields_left_out(mailbox.profile))


def profile_fields_left_out(profile: EmailServerProfile | None) -> frozenset[str]:
    """The fields the profile's server type has no use for (none while no profile)."""
    left_out: set[str] = set()
    if profile is None:
        return frozenset(left_out)
    if not takes_mailbox_credentials(profile):
        left_out |= CREDENTIAL_FIELDS
    if profile.server_type != EmailServerProfile.ServerType.POP3_SMTP:
        left_out.add("process_and_delete")
    return frozenset(left_out)


def _profile_chosen(request: HttpRequest) -> EmailServerProfile | None:
    """The profile a new mailbox is added on: posted, or given to the add page."""
    chosen = request.POST.get("profile") or request.GET.get("profile") or ""
    if not chosen.isdigit():
        return None
    return EmailServerProfile.objects.filter(pk=int(chosen)).first()


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


def _seconds(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "-"
    return f"{milliseconds / 1000:.1f} s"


class MailboxFormByType(admin.ModelAdmin):
    """Mixed into MailboxAdmin: the form's fieldsets, labels and Test & enable button."""

    fieldsets = MAILBOX_FIELDSETS  # type: ignore[assignment]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            left_out = profile_fields_left_out(_profile_chosen(request))
        else:
            left_out = fields_left_out(obj)
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = _without(tuple(options["fields"]), left_out)
            if fields:
                fieldsets.append((name, {**options, "fields": fields}))
        return fieldsets

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        inlines = super().get_inline_instances(request, obj)
        if obj is not None and not has_act(obj):
            # No appointments, contacts or tasks: their options do not apply.
            return [i for i in inlines if i.model._meta.model_name != "itemtypesyncoptions"]
        return inlines

    def form_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:mailbox_id>/test-and-enable/",
                self.admin_site.admin_view(self.test_and_enable_view),
                name="mailboxes_mailbox_test_and_enable",
            )
        ]

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

    @admin.display(description="last duration")
    def last_duration(self, obj: Mailbox) -> str:
        return _seconds(obj.last_duration_ms)

    @admin.display(description="average duration")
    def average_duration(self, obj: Mailbox) -> str:
        return _seconds(obj.average_duration_ms)
