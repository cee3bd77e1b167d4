"""Self-service views: the dashboard, "My mailbox", and the mailboxes of owned queues.

Every view answers 404 for a mailbox the person does not manage. Actions that need a mail
server ("test connection", "sync now") only enqueue a task.
"""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from activities.api.visibility import visible_to
from activities.models import Appointment
from mailboxes import fields_by_type
from mailboxes.models import (
    Alert,
    ExchangeFolderListing,
    ExchangeSyncIdMapping,
    Mailbox,
    MailboxTrackingFolder,
)
from mailboxes.status_words import status_of
from mailboxes.sync import eligibility, scheduling
from mailboxes.sync.conflicts import conflict_differences, decide_conflicts, shown_value
from mailboxes.web import why
from mailboxes.web.access import get_manageable_mailbox, manageable_mailboxes
from mailboxes.web.actions import enqueue_mailbox_task
from mailboxes.web.forms import MailboxSettingsForm, SyncOptionsFormSet, TrackingFolderForm
from mailboxes.web.outbox import uncertain_emails
from mailboxes.web.status import describe
from users.models import User

RECENT_ALERTS = 10
UPCOMING_APPOINTMENTS = 10


def _user(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    return user


def _mailbox_url(mailbox: Mailbox) -> str:
    return reverse("mailboxes:mailbox", args=[mailbox.pk])


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    mailboxes = list(
        manageable_mailboxes(user)
        .annotate(
            open_alerts=Count(
                "alerts",
                filter=Q(alerts__acknowledged_at__isnull=True, alerts__staff_only=False),
            )
        )
        .order_by("queue__name")
    )
    own = next((m for m in mailboxes if m.user_id == user.pk), None)
    queue_mailboxes = [m for m in mailboxes if m.queue_id is not None]
    return render(
        request,
        "selfservice/home.html",
        {
            "own_mailbox": own,
            "own_status_words": status_of(own) if own else None,
            "own_status": describe(own)[:3] if own else [],
            "queue_mailboxes": [(m, status_of(m)) for m in queue_mailboxes],
            "owned_queues_without_mailbox": user.owned_queues.filter(mailbox__isnull=True),
            "member_queues": user.member_queues.exclude(owner=user).order_by("name"),
        },
    )


@login_required
def my_mailbox(request: HttpRequest) -> HttpResponse:
    mailbox = Mailbox.objects.filter(user=_user(request)).first()
    if mailbox is None:
        return render(request, "selfservice/no_mailbox.html", status=200)
    return redirect(_mailbox_url(mailbox))


def upcoming_appointments(mailbox: Mailbox, user: User) -> list[Appointment]:
    """The next appointments of the mailbox's owner (user or queue) that `user` may see.

    Those not over yet, cancelled ones left out, soonest first.
    """
    if mailbox.queue_id is not None:
        owned = Appointment.objects.filter(owner_queue_id=mailbox.queue_id)
    else:
        owned = Appointment.objects.filter(owner_user_id=mailbox.user_id)
    appointments = visible_to(owned, user).filter(end__gte=timezone.now(), is_cancelled=False)
    return list(
        appointments.only("subject", "start", "end", "is_all_day", "location").order_by(
            "start", "pk"
        )[:UPCOMING_APPOINTMENTS]
    )


def _listing(mailbox: Mailbox) -> ExchangeFolderListing | None:
    return ExchangeFolderListing.objects.filter(mailbox=mailbox).first()


def _folder_form(mailbox: Mailbox, user: User, data: Any = None) -> TrackingFolderForm:
    listing = _listing(mailbox)
    return TrackingFolderForm(
        data, mailbox=mailbox, user=user, listed_folders=listing.folders if listing else None
    )


def _page(
    request: HttpRequest,
    mailbox: Mailbox,
    settings_form: MailboxSettingsForm,
    options_formset: Any,
    folder_form: TrackingFolderForm,
    *,
    status: int = 200,
) -> HttpResponse:
    # Staff-only alerts (defects of crmsync) are in the admin, not on the owner's page.
    alerts = Alert.objects.filter(mailbox=mailbox, staff_only=False).order_by("-created_at")
    alerts = alerts[:RECENT_ALERTS]
    conflicts = (
        ExchangeSyncIdMapping.objects.filter(
            mailbox=mailbox, user_decision=ExchangeSyncIdMapping.UserDecision.PENDING
        )
        .select_related("mailbox", "crm_content_type")
        .order_by("modified_at")
    )
    folders = MailboxTrackingFolder.objects.filter(mailbox=mailbox).select_related(
        "regarding_content_type"
    )
    return render(
        request,
        "selfservice/mailbox.html",
        {
            "mailbox": mailbox,
            "owner_label": f"Queue “{mailbox.queue}”" if mailbox.queue_id else "My mailbox",
            "status": status_of(mailbox),
            "status_lines": describe(mailbox),
            "alerts": alerts,
            "settings_form": settings_form,
            "takes_credentials": fields_by_type.takes_mailbox_credentials(mailbox.profile),
            "options_formset": options_formset,
            "folders": folders,
            "folder_form": folder_form,
            "folder_listing": _listing(mailbox),
            "worker_wait_seconds": settings.CRMSYNC_WORKER_WAIT_SECONDS,
            "lists_folders": fields_by_type.lists_folders(mailbox.profile),
            "appointments": upcoming_appointments(mailbox, _user(request)),
            "conflicts": [(mapping, _differences(mapping)) for mapping in conflicts],
            "uncertain_emails": uncertain_emails(mailbox),
            "held_meetings": ExchangeSyncIdMapping.objects.filter(
                mailbox=mailbox, last_error_code=ExchangeSyncIdMapping.MEETING_HELD
            ).order_by("last_error_at"),
            **_why_context(request, mailbox),
        },
        status=status,
    )


def _why_context(request: HttpRequest, mailbox: Mailbox) -> dict[str, Any]:
    return why.page_context(
        mailbox,
        request.GET.get("why", ""),
        _mailbox_url(mailbox),
        lambda record: reverse("mailboxes:track-now", args=[mailbox.pk, record.pk]),
    )


@login_required
@require_POST
def track_now(request: HttpRequest, mailbox_id: int, record_id: int) -> HttpResponse:
    """Have a worker file a message that was left out as irrelevant (`why.ask_to_track`)."""
    user = _user(request)
    mailbox = get_manageable_mailbox(user, mailbox_id)
    started, said = why.ask_to_track(record_id, mailbox, user, live=True)
    (messages.success if started else messages.error)(request, said)
    query = request.POST.get("why", "")
    return HttpResponseRedirect(_mailbox_url(mailbox) + "?" + urlencode({"why": query}) + "#why")


def _options_formset(mailbox: Mailbox, data: Any = None) -> Any:
    """Appointments, contacts and tasks options: a user's, in an Exchange store only."""
    if not fields_by_type.offers_act(mailbox.profile, is_queue=mailbox.queue_id is not None):
        return None
    return SyncOptionsFormSet(
        data, queryset=mailbox.sync_options.order_by("item_type"), prefix="options"
    )


@login_required
def mailbox_page(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """Show the mailbox, or save its settings and per-type options (one form, one button)."""
    user = _user(request)
    mailbox = get_manageable_mailbox(user, mailbox_id)
    folder_form = _folder_form(mailbox, user)
    if request.method != "POST":
        return _page(
            request,
            mailbox,
            MailboxSettingsForm(instance=mailbox),
            _options_formset(mailbox),
            folder_form,
        )
    settings_form = MailboxSettingsForm(request.POST, instance=mailbox)
    options_formset = _options_formset(mailbox, request.POST)
    options_valid = options_formset is None or options_formset.is_valid()
    if not (settings_form.is_valid() and options_valid):
        messages.error(request, "Nothing was saved: correct the fields marked below.")
        return _page(request, mailbox, settings_form, options_formset, folder_form, status=400)
    address_changed = "email_address" in settings_form.changed_data
    with transaction.atomic():
        settings_form.save()
        if options_formset is not None:
            options_formset.save()
    messages.success(request, "Your settings are saved.")
    if address_changed:
        messages.warning(request, "The new email address waits for an administrator's approval.")
    return HttpResponseRedirect(_mailbox_url(mailbox))


@login_required
@require_POST
def add_tracking_folder(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    user = _user(request)
    mailbox = get_manageable_mailbox(user, mailbox_id)
    form = _folder_form(mailbox, user, request.POST)
    folder = None
    if form.is_valid():
        try:
            folder = form.save()
        except ValidationError as error:
            # Someone else added the last allowed folder meanwhile (the limit is checked
            # again under a lock when the folder is saved).
            form.add_error(None, error)
    if folder is None:
        messages.error(request, "The folder was not added: correct the fields marked below.")
        return _page(
            request,
            mailbox,
            MailboxSettingsForm(instance=mailbox),
            _options_formset(mailbox),
            form,
            status=400,
        )
    messages.success(request, f"Email moved to “{folder.exchange_folder_name}” is now tracked.")
    return HttpResponseRedirect(_mailbox_url(mailbox) + "#folders")


@login_required
@require_POST
def remove_tracking_folder(request: HttpRequest, mailbox_id: int, folder_id: int) -> HttpResponse:
    mailbox = get_manageable_mailbox(_user(request), mailbox_id)
    folder = get_object_or_404(MailboxTrackingFolder, mailbox=mailbox, pk=folder_id)
    folder.delete()
    messages.success(request, f"“{folder.exchange_folder_name}” is no longer tracked.")
    return HttpResponseRedirect(_mailbox_url(mailbox) + "#folders")


@login_required
@require_POST
def refresh_folder_list(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """Ask a worker to list the mailbox's folders under the Inbox; the page shows them."""
    mailbox = get_manageable_mailbox(_user(request), mailbox_id)
    if _refused(request, mailbox, "Folders were not listed"):
        return HttpResponseRedirect(_mailbox_url(mailbox) + "#folders")
    if not fields_by_type.lists_folders(mailbox.profile):
        messages.error(
            request, "Folders can be listed on Exchange and Microsoft 365 mailboxes only."
        )
        return HttpResponseRedirect(_mailbox_url(mailbox) + "#folders")
    # Recorded before the task is queued, so the worker's answer always comes after it.
    ExchangeFolderListing.objects.update_or_create(
        mailbox=mailbox, defaults={"requested_at": timezone.now()}
    )
    result = enqueue_mailbox_task(
        "list_exchange_folders", mailbox.pk, what="Listing your Exchange folders"
    )
    (messages.success if result.ok else messages.error)(request, result.message)
    return HttpResponseRedirect(_mailbox_url(mailbox) + "#folders")


def _refused(request: HttpRequest, mailbox: Mailbox, what: str) -> bool:
    """Say why a mailbox that may not connect (`eligibility`) is left alone; True then."""
    refused = eligibility.refusal(mailbox)
    if refused:
        messages.error(request, f"{what}: {refused}")
    return bool(refused)


@login_required
@require_POST
def test_connection(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_manageable_mailbox(_user(request), mailbox_id)
    if _refused(request, mailbox, "The connection was not tested"):
        return HttpResponseRedirect(_mailbox_url(mailbox))
    result = enqueue_mailbox_task("test_and_enable_mailbox", mailbox.pk, what="The connection test")
    (messages.success if result.ok else messages.error)(request, result.message)
    return HttpResponseRedirect(_mailbox_url(mailbox))


@login_required
@require_POST
def sync_now(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    """As the admin's "sync now": a postponed mailbox syncs at once; failed channels still
    wait for a connection test."""
    mailbox = get_manageable_mailbox(_user(request), mailbox_id)
    if _refused(request, mailbox, "Nothing was synchronized"):
        return HttpResponseRedirect(_mailbox_url(mailbox))
    scheduling.sync_now([mailbox.pk])
    result = enqueue_mailbox_task("sync_mailbox", mailbox.pk, what="A synchronization")
    (messages.success if result.ok else messages.error)(request, result.message)
    return HttpResponseRedirect(_mailbox_url(mailbox))


DECISIONS = {
    "keep_crm": ExchangeSyncIdMapping.UserDecision.KEEP_CRM,
    "keep_exchange": ExchangeSyncIdMapping.UserDecision.KEEP_EXCHANGE,
}


@login_required
@require_POST
def decide_conflict(request: HttpRequest, mailbox_id: int, mapping_id: int) -> HttpResponse:
    """Apply the chosen version of a conflicting item now, as the admin does; the next sync
    carries it to the other side."""
    mailbox = get_manageable_mailbox(_user(request), mailbox_id)
    mapping = get_object_or_404(ExchangeSyncIdMapping, pk=mapping_id, mailbox=mailbox)
    decision = DECISIONS.get(request.POST.get("decision", ""))
    if decision is None:
        messages.error(request, "Choose which version to keep.")
        return HttpResponseRedirect(_mailbox_url(mailbox) + "#conflicts")
    if mapping.user_decision != ExchangeSyncIdMapping.UserDecision.PENDING:
        messages.info(request, "This conflict was decided already.")
        return HttpResponseRedirect(_mailbox_url(mailbox) + "#conflicts")
    settled, errors = decide_conflicts([mapping], decision)
    if settled:
        kept = "CRM" if decision == DECISIONS["keep_crm"] else "Exchange"
        messages.success(
            request,
            f"The {kept} version is kept; the next synchronization writes it to both sides.",
        )
    for error in errors:
        messages.error(request, f"The decision was not applied: {error}")
    return HttpResponseRedirect(_mailbox_url(mailbox) + "#conflicts")


def _differences(mapping: ExchangeSyncIdMapping) -> list[tuple[str, str, str]]:
    """The fields whose CRM and Exchange versions really differ, for the decision table."""
    return [
        (row.field.replace("_", " "), shown_value(row.crm), shown_value(row.exchange))
        for row in conflict_differences(mapping)
    ]
