"""The admin action "Move to a Microsoft 365 (Graph) profile…": a page to choose the profile,
then one task per mailbox (mailboxes/sync/move_to_graph); the outcome is an alert on each."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from crmsync.words import count
from mailboxes.channels import EXCHANGE_SERVER_TYPES
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile


@admin.action(description="Move to a Microsoft 365 (Graph) profile…", permissions=["change"])
def move_to_graph(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Mailbox]
) -> TemplateResponse | None:
    from mailboxes.tasks import move_mailbox_to_graph

    movable = queryset.filter(profile__server_type__in=EXCHANGE_SERVER_TYPES)
    skipped = queryset.count() - movable.count()
    targets = EmailServerProfile.objects.filter(
        server_type=EmailServerProfile.ServerType.MICROSOFT_365, is_active=True
    )
    chosen = request.POST.get("target_profile")
    if chosen is not None and "apply" in request.POST:
        target = targets.filter(pk=chosen if chosen.isdigit() else 0).first()
        if target is None:
            messages.error(request, "Choose an active Microsoft 365 profile.")
            return None
        ids = list(movable.values_list("pk", flat=True))
        for pk in ids:
            move_mailbox_to_graph.delay(pk, target.pk)
        messages.info(
            request,
            f"Moving {count(len(ids), 'mailbox')} to {target} (an alert on each says how it "
            "went)."
            + (f" {count(skipped, 'mailbox')} not on an EWS profile skipped." if skipped else ""),
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Move to a Microsoft 365 (Graph) profile",
        "opts": modeladmin.model._meta,
        "mailboxes": movable,
        "skipped": skipped,
        "targets": targets,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": queryset.values_list("pk", flat=True),
    }
    return TemplateResponse(request, "admin/mailboxes/move_to_graph.html", context)
