"""The sync health dashboard: mailboxes by status, the failing ones, the last 24 hours.

Everything is aggregated in the database (counts with filters, runs by hour with
`TruncHour`), so the page costs a handful of queries whatever the number of mailboxes or
runs. The charts are inline SVG made on the server (`charts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Avg, Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from crmsync.health import cached_undecryptable_credentials
from mailboxes import channels
from mailboxes.admin.charts import Series, stacked_bar_chart
from mailboxes.models import Alert, ExchangeSyncIdMapping, Mailbox, SyncRun
from mailboxes.status_words import status_of
from profiles.models import EmailServerProfile
from profiles.saving import broken_active_profiles

HOURS = 24
FAILING_SHOWN = 50
CHANNELS = (*((channel.status_field, channel.label) for channel in channels.CHANNELS),)
Status = Mailbox.ChannelStatus
Approval = Mailbox.ApprovalStatus

GREEN, RED, BLUE, GREY = "#2e7d32", "#c62828", "#1565c0", "#90a4ae"

FAILING = channels.any_failed_q() | Q(error_count__gt=0)


@dataclass
class ProfileHealth:
    profile_id: int | None
    name: str
    mailboxes: int = 0
    runs: int = 0
    processed: int = 0
    failed: int = 0
    errors: int = 0
    average_ms: float | None = None
    slowest_ms: int | None = None
    items_chart: SafeString | None = None
    duration_chart: SafeString | None = None
    hourly: dict[datetime, dict[str, Any]] = field(default_factory=dict)


def hour_buckets(now: datetime) -> list[datetime]:
    """The last 24 hours, oldest first, each the start of an hour in the current time zone."""
    current = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


def status_counts() -> dict[str, Any]:
    """Mailboxes per channel status and per approval status, in one query."""
    aggregates: dict[str, Any] = {"total": Count("id")}
    for name, _label in CHANNELS:
        for status in Status:
            aggregates[f"{name}__{status.value}"] = Count("id", filter=Q(**{name: status}))
    for approval in Approval:
        aggregates[f"approval__{approval.value}"] = Count("id", filter=Q(approval_status=approval))
    aggregates["inactive"] = Count("id", filter=Q(is_active=False))
    aggregates["without_profile"] = Count("id", filter=Q(profile__isnull=True))
    counts = Mailbox.objects.aggregate(**aggregates)
    channels = [
        {
            "name": name,
            "label": label,
            "cells": [
                {
                    "status": status.value,
                    "label": status.label,
                    "count": counts[f"{name}__{status.value}"],
                }
                for status in Status
            ],
        }
        for name, label in CHANNELS
    ]
    approvals = [
        {"status": a.value, "label": a.label, "count": counts[f"approval__{a.value}"]}
        for a in Approval
    ]
    return {
        "total": counts["total"],
        "channels": channels,
        "approvals": approvals,
        "inactive": counts["inactive"],
        "without_profile": counts["without_profile"],
    }


def failing_mailboxes() -> tuple[QuerySet[Mailbox], int]:
    failing = Mailbox.objects.filter(FAILING)
    shown = failing.select_related("profile", "user", "queue").order_by(
        "-last_error_at", "email_address"
    )[:FAILING_SHOWN]
    return shown, failing.count()


def profile_health(now: datetime) -> list[ProfileHealth]:
    """Per profile: totals and hourly charts of the runs of the last 24 hours."""
    buckets = hour_buckets(now)
    since = buckets[0]
    profiles: dict[int | None, ProfileHealth] = {
        p["id"]: ProfileHealth(p["id"], p["name"], mailboxes=p["mailbox_total"])
        for p in EmailServerProfile.objects.annotate(mailbox_total=Count("mailboxes"))
        .values("id", "name", "mailbox_total")
        .order_by("name")
    }
    hourly = (
        SyncRun.objects.filter(started_at__gte=since)
        .annotate(hour=TruncHour("started_at"))
        .values("mailbox__profile_id", "hour")
        .annotate(
            runs=Count("id"),
            processed=Sum("items_processed"),
            failed=Sum("items_failed"),
            errors=Count("id", filter=~Q(outcome=SyncRun.Outcome.SUCCESS)),
            average_ms=Avg("duration_ms"),
            slowest_ms=Max("duration_ms"),
        )
        .order_by()
    )
    for row in hourly:
        profile_id = row["mailbox__profile_id"]
        health = profiles.get(profile_id)
        if health is None:
            # Runs of mailboxes that have since lost their profile.
            health = profiles[profile_id] = ProfileHealth(profile_id, "(no profile)")
        hour = timezone.localtime(row["hour"])
        health.hourly[hour] = dict(row)
        health.runs += row["runs"]
        health.processed += row["processed"] or 0
        health.failed += row["failed"] or 0
        health.errors += row["errors"]
        health.slowest_ms = max(health.slowest_ms or 0, row["slowest_ms"] or 0)
    for health in profiles.values():
        if not health.runs:
            continue
        rows = [health.hourly.get(b) for b in buckets]
        weighted = sum((r["average_ms"] or 0) * r["runs"] for r in rows if r)
        health.average_ms = weighted / health.runs
        health.items_chart = stacked_bar_chart(
            f"Items synced per hour, {health.name}",
            buckets,
            [
                Series("processed", GREEN, [r["processed"] or 0 if r else 0 for r in rows]),
                Series("failed", RED, [r["failed"] or 0 if r else 0 for r in rows]),
            ],
        )
        health.duration_chart = stacked_bar_chart(
            f"Sync duration per hour, {health.name}",
            buckets,
            [
                Series("average", BLUE, [r["average_ms"] or 0 if r else 0 for r in rows]),
                # Stacked on the average, the grey part reaches up to the slowest cycle.
                Series(
                    "slowest",
                    GREY,
                    [(r["slowest_ms"] or 0) - (r["average_ms"] or 0) if r else 0 for r in rows],
                ),
            ],
            notes=[
                f"average {r['average_ms'] or 0:,.0f} ms, slowest {r['slowest_ms'] or 0:,} ms, "
                f"{r['runs']} sync{'s' if r['runs'] != 1 else ''}"
                if r
                else "no sync"
                for r in rows
            ],
        )
    return list(profiles.values())


def undecryptable_rows() -> list[dict[str, Any]]:
    """The credentials no configured key decrypts, in words, each with its admin page."""
    rows = []
    for found in cached_undecryptable_credentials():
        model = apps.get_model(found["model"])
        meta = model._meta
        try:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[found["id"]])
        except NoReverseMatch:
            url = ""
        rows.append(
            {
                "model": meta.verbose_name,
                "id": found["id"],
                "field": meta.get_field(found["field"]).verbose_name,
                "url": url,
            }
        )
    return rows


def broken_profile_rows() -> list[dict[str, Any]]:
    """Each active profile that breaks its server type's rules, with what it lacks and its
    admin page: saved outside the forms (the database, code that skipped `save_profile`),
    or before a rule existed."""
    return [
        {
            "profile": profile,
            "missing": " ".join(dict.fromkeys(errors.values())),
            "url": reverse("admin:profiles_emailserverprofile_change", args=[profile.pk]),
        }
        for profile, errors in broken_active_profiles()
    ]


def dashboard_context(now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    failing, failing_total = failing_mailboxes()
    return {
        "counts": status_counts(),
        # Each with its status in the words of the self-service page.
        "failing": [(mailbox, status_of(mailbox, now)) for mailbox in failing],
        "failing_total": failing_total,
        "failing_shown": FAILING_SHOWN,
        "profiles": profile_health(now),
        "hours": HOURS,
        "window_start": hour_buckets(now)[0],
        "open_alerts": Alert.objects.filter(acknowledged_at__isnull=True).count(),
        "undecryptable": undecryptable_rows(),
        "broken_profiles": broken_profile_rows(),
        "pending_conflicts": ExchangeSyncIdMapping.objects.filter(
            user_decision=ExchangeSyncIdMapping.UserDecision.PENDING
        ).count(),
    }
