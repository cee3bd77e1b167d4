from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from crmsync.admin_display import badge, excerpt, seconds
from crmsync.crypto import stored_values
from mailboxes import tasks
from mailboxes.sync import admin_actions, eligibility
from profiles.forms import (
    APPLICATION,
    FIELDS_BY_TYPE,
    OAUTH_EXTRA,
    TYPE_SPECIFIC,
    EmailServerProfileAdminForm,
)
from profiles.models import EmailServerProfile
from profiles.validation import rule_errors

LAST_TEST_FIELDS = (
    "last_test_status",
    "last_test_started_at",
    "last_test_duration",
    "last_test_message",
)
QUEUED_MESSAGE = "Queued: waiting for a worker to run the test."
# A test without a result after this long has been lost (no worker, or it died).
TEST_GIVE_UP_AFTER = timedelta(minutes=10)
NO_MAILBOX_MESSAGE = (
    "Nothing was tested: the test connects through the profile's mailboxes that may "
    "connect (active, approved, with an approved address, on an active profile), and "
    "this profile has none yet."
)


def test_state(profile: EmailServerProfile, now: datetime | None = None) -> dict[str, Any]:
    """The last test as the page and its JSON endpoint show it, with "running" derived.

    A test is running from the moment it is queued (started, no duration yet) until the
    worker writes its result, or until TEST_GIVE_UP_AFTER has passed.
    """
    now = now or timezone.now()
    started = profile.last_test_started_at
    unfinished = started is not None and profile.last_test_duration_ms is None
    # Still queued (no worker has taken it) after the wait every live result uses.
    unanswered = (
        unfinished
        and started is not None
        and profile.last_test_message == QUEUED_MESSAGE
        and now - started >= timedelta(seconds=settings.CRMSYNC_WORKER_WAIT_SECONDS)
    )
    running = (
        unfinished and not unanswered and started is not None and now - started < TEST_GIVE_UP_AFTER
    )
    lost = unfinished and not running
    if running:
        status, label = "running", "Running"
    elif lost:
        status, label = "failure", "No result"
    else:
        status, label = profile.last_test_status, profile.get_last_test_status_display()
    message = profile.last_test_message
    if unanswered:
        message = (
            f"No worker is answering: nothing happened in {settings.CRMSYNC_WORKER_WAIT_SECONDS}"
            " seconds after the test was queued; is a Celery worker running?"
        )
    elif lost:
        message = (
            f"No result {int(TEST_GIVE_UP_AFTER.total_seconds() // 60)} minutes after the test "
            "was queued: is a Celery worker running?"
        )
    return {
        "status": status,
        "status_label": label,
        "running": running,
        "started_at": started.isoformat() if started else None,
        "duration_ms": profile.last_test_duration_ms,
        "duration": seconds(profile.last_test_duration_ms),
        "message": message,
    }


@admin.register(EmailServerProfile)
class EmailServerProfileAdmin(admin.ModelAdmin):
    form = EmailServerProfileAdminForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
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
    # The model's ordering is dropped by the count of mailboxes (a GROUP BY): the list and
    # the mailbox form's profile picker would page through an unordered list.
    ordering = ("name",)
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
    actions = ("test_and_enable_profile_mailboxes", "activate_profiles", "deactivate_profiles")
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
                    "smtp_saves_sent_copy",
                ),
                "description": "Ignored when the incoming settings are used for outgoing too.",
            },
        ),
        ("Exchange", {"fields": ("autodiscover_domain", "exchange_version")}),
        (
            "Microsoft Entra ID application",
            {
                "fields": (*APPLICATION, "graph_endpoint", "oauth_resource"),
                "description": "Microsoft 365 (Graph), Exchange Online, and Exchange Server "
                "with OAuth authentication sign in as this application (app-only, "
                "client-credentials). The README says how to register it.",
            },
        ),
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

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any) -> Any:
            return self.admin_site.admin_view(function)

        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/test-connection/",
                view(self.test_connection_view),
                name="{}_{}_test_connection".format(*info),
            ),
            path(
                "<path:object_id>/test-connection/status/",
                view(self.test_status_view),
                name="{}_{}_test_status".format(*info),
            ),
            *super().get_urls(),
        ]

    def _profile_or_404(self, request: HttpRequest, object_id: str) -> EmailServerProfile:
        profile = self.get_object(request, object_id)
        if profile is None:
            raise Http404("No such email server profile.")
        return profile

    def _change_url(self, profile: EmailServerProfile) -> str:
        return reverse("admin:profiles_emailserverprofile_change", args=[profile.pk])

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        profile = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if profile is not None:
            extra_context["connection_test"] = test_state(profile)
            extra_context["can_run_tests"] = self.has_change_permission(request, profile)
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: EmailServerProfile | None = None,
    ) -> HttpResponse:
        # Which fields each server type shows (crmsync/static/crmsync/server_type.js).
        context["server_type_fields"] = {
            "by_type": {key: list(names) for key, names in FIELDS_BY_TYPE.items()},
            "oauth_extra": list(OAUTH_EXTRA),
            "specific": TYPE_SPECIFIC,
        }
        return super().render_change_form(request, context, add, change, form_url, obj)

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Queue the profile's connection test on a worker; the change page shows the result."""
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        profile = self._profile_or_404(request, object_id)
        if not self.has_change_permission(request, profile):
            raise PermissionDenied
        # A Graph profile's application is tested even before it has mailboxes.
        if (
            not profile.is_graph
            and not profile.mailboxes.filter(eligibility.may_connect_q()).exists()
        ):
            self.message_user(request, NO_MAILBOX_MESSAGE, messages.WARNING)
            return HttpResponseRedirect(self._change_url(profile))
        # Written before the task is queued, so the worker's result always comes after it.
        EmailServerProfile.objects.filter(pk=profile.pk).update(
            last_test_status=EmailServerProfile.TestStatus.NOT_RUN,
            last_test_started_at=timezone.now(),
            last_test_duration_ms=None,
            last_test_message=QUEUED_MESSAGE,
        )
        profile_id = profile.pk
        transaction.on_commit(lambda: tasks.test_profile.delay(profile_id))
        self.message_user(
            request,
            f"Connection test of {profile} queued; its result appears below.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._change_url(profile))

    def test_status_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The last test as JSON, for the change page to poll while a test runs."""
        if request.method != "GET":
            return HttpResponse(status=405, headers={"Allow": "GET"})
        profile = self._profile_or_404(request, object_id)
        if not self.has_view_permission(request, profile):
            raise PermissionDenied
        return JsonResponse(test_state(profile), headers={"Cache-Control": "no-store"})

    @admin.action(
        description="Test & enable all mailboxes of the selected profiles", permissions=["change"]
    )
    def test_and_enable_profile_mailboxes(
        self, request: HttpRequest, queryset: QuerySet[EmailServerProfile]
    ) -> None:
        # The engine's profile test: test & enable of each approved mailbox, then a summary.
        admin_actions.test_profiles(request, queryset)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EmailServerProfile]:
        return super().get_queryset(request).annotate(mailbox_total=Count("mailboxes"))

    @admin.display(description="last test duration")
    def last_test_duration(self, obj: EmailServerProfile) -> str:
        return seconds(obj.last_test_duration_ms)

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
        inactive = queryset.filter(is_active=False)
        # The rules of each server type (profiles/validation.py) hold for an active profile:
        # one saved before them, or changed outside the form, is named with what it lacks.
        with stored_values():  # secrets are only checked for presence: never decrypted
            refused = {p.pk: what for p in inactive if (what := rule_errors(p))}
        for profile in inactive.filter(pk__in=refused):
            missing = " ".join(dict.fromkeys(refused[profile.pk].values()))
            self.message_user(request, f"“{profile}” not activated: {missing}", messages.ERROR)
        count = inactive.exclude(pk__in=refused).update(is_active=True, modified_at=timezone.now())
        message = ngettext("%d profile activated.", "%d profiles activated.", count) % count
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Deactivate the selected profiles")
    def deactivate_profiles(
        self, request: HttpRequest, queryset: QuerySet[EmailServerProfile]
    ) -> None:
        count = queryset.filter(is_active=True).update(is_active=False, modified_at=timezone.now())
        message = ngettext("%d profile deactivated.", "%d profiles deactivated.", count) % count
        self.message_user(request, message, messages.SUCCESS)
