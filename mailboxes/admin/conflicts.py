"""Pending `manual` conflicts: both versions side by side, and the decision.

A decision goes through the engine's `mailboxes.sync.conflicts.decide_conflicts`: it writes
the Exchange version into the CRM record, or marks the CRM version for the next push, and
makes the mailbox due, so the next dispatch carries the result to the other side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from crmsync.admin_display import admin_link
from mailboxes.models import ExchangeSyncIdMapping, PendingConflict
from mailboxes.sync.conflicts import compare_snapshots, decide_conflicts

Decision = ExchangeSyncIdMapping.UserDecision
DECISIONS = {Decision.KEEP_CRM.value: "keep_crm", Decision.KEEP_EXCHANGE.value: "keep_exchange"}
MISSING = "—"


@dataclass(frozen=True)
class DiffRow:
    field: str
    crm: str
    exchange: str
    # Told by the engine, which knows what both sides write differently for the same thing.
    differs: bool


def _shown(value: Any) -> str:
    if value is None or value == "" or value == []:
        return MISSING
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
    return str(value)


def _label(field_name: str) -> str:
    return field_name.replace("_", " ")


def diff_rows(mapping: ExchangeSyncIdMapping) -> list[DiffRow]:
    """One row per field of either snapshot, in the CRM snapshot's order, then Exchange's;
    a row differs when the engine says the versions really do (`compare_snapshots`)."""
    return [
        DiffRow(row.field, _shown(row.crm), _shown(row.exchange), row.differs)
        for row in compare_snapshots(
            mapping.crm_snapshot, mapping.exchange_snapshot, mapping.mailbox.email_address
        )
    ]


def diff_table(mapping: ExchangeSyncIdMapping, *, only_differences: bool = False) -> SafeString:
    rows = diff_rows(mapping)
    if only_differences:
        rows = [row for row in rows if row.differs]
    if not rows:
        return format_html('<p class="crmsync-empty">{}</p>', "No snapshot to compare.")
    body = format_html_join(
        "",
        '<tr class="{}"><th scope="row">{}</th><td>{}</td><td>{}</td></tr>',
        (
            ("differs" if row.differs else "same", _label(row.field), row.crm, row.exchange)
            for row in rows
        ),
    )
    return format_html(
        '<table class="crmsync-diff"><thead><tr><th scope="col">Field</th>'
        '<th scope="col">CRM version</th><th scope="col">Exchange version</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        body,
    )


@admin.register(PendingConflict)
class PendingConflictAdmin(admin.ModelAdmin):
    """Mappings whose `manual` conflict awaits a person: compare, then keep one side."""

    list_display = (
        "item_subject",
        "mailbox",
        "object_type",
        "crm_object_link",
        "differences",
        "crm_modified_at",
        "exchange_modified_at",
        "modified_at",
    )
    list_filter = ("object_type", "mailbox__profile")
    search_fields = ("item_subject", "mailbox__email_address", "exchange_item_id")
    list_select_related = ("mailbox", "crm_content_type")
    ordering = ("-modified_at",)
    actions = ("keep_crm", "keep_exchange")
    fields = (
        "mailbox",
        "object_type",
        "item_subject",
        "crm_object_link",
        ("crm_modified_at", "exchange_modified_at"),
        "comparison",
    )
    readonly_fields = (
        "mailbox",
        "object_type",
        "item_subject",
        "crm_object_link",
        "crm_modified_at",
        "exchange_modified_at",
        "comparison",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingConflict]:
        pending = super().get_queryset(request).filter(user_decision=Decision.PENDING)
        return pending.prefetch_related("crm_object")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        decide_url = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="mailboxes_pendingconflict_decide",
        )
        return [decide_url, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Nothing on this page is edited; the decision has its own buttons.
        context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete_link": False,
            "decisions": [(d.value, d.label) for d in (Decision.KEEP_CRM, Decision.KEEP_EXCHANGE)],
            "can_decide": self.has_change_permission(request),
        }
        return super().change_view(request, object_id, form_url, context)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        mapping = self.get_object(request, object_id)
        if mapping is None:
            raise Http404("No pending conflict with this id.")
        if not self.has_change_permission(request, mapping):
            raise PermissionDenied
        decision = request.POST.get("decision", "")
        if decision not in DECISIONS:
            self.message_user(request, "Choose “keep CRM” or “keep Exchange”.", messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:mailboxes_pendingconflict_change", args=[mapping.pk])
            )
        self._report(request, *decide_conflicts([mapping], decision), decision)
        return HttpResponseRedirect(reverse("admin:mailboxes_pendingconflict_changelist"))

    @admin.action(description="Keep the CRM version", permissions=["change"])
    def keep_crm(self, request: HttpRequest, queryset: QuerySet[PendingConflict]) -> None:
        self._decide_selected(request, queryset, Decision.KEEP_CRM)

    @admin.action(description="Keep the Exchange version", permissions=["change"])
    def keep_exchange(self, request: HttpRequest, queryset: QuerySet[PendingConflict]) -> None:
        self._decide_selected(request, queryset, Decision.KEEP_EXCHANGE)

    def _decide_selected(
        self, request: HttpRequest, queryset: QuerySet[PendingConflict], decision: str
    ) -> None:
        mappings = queryset.select_related("mailbox", "crm_content_type")
        self._report(request, *decide_conflicts(mappings, decision), decision)

    def _report(self, request: HttpRequest, settled: int, errors: list[str], decision: str) -> None:
        label = Decision(decision).label
        label = label[:1].lower() + label[1:]
        if settled:
            message = ngettext(
                "%(count)d conflict settled: %(label)s.",
                "%(count)d conflicts settled: %(label)s.",
                settled,
            ) % {"count": settled, "label": label}
            self.message_user(request, message, messages.SUCCESS)
        for error in errors:
            self.message_user(request, f"Not settled: {error}", messages.ERROR)

    @admin.display(description="CRM record")
    def crm_object_link(self, obj: ExchangeSyncIdMapping) -> SafeString | str:
        return admin_link(obj.crm_object)

    @admin.display(description="fields that differ")
    def differences(self, obj: ExchangeSyncIdMapping) -> str:
        rows = diff_rows(obj)
        return ", ".join(_label(row.field) for row in rows if row.differs) or "-"

    @admin.display(description="CRM and Exchange versions")
    def comparison(self, obj: ExchangeSyncIdMapping) -> SafeString:
        return diff_table(obj)
