"""Query filters of the list endpoints.

Every id filter is bounded to the range of a 64-bit key, so a huge number is a 400, not a
database overflow.
"""

from datetime import UTC, datetime
from typing import Any

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from activities.models import Account, Appointment, Contact, Email, Task
from mailboxes.models import ExchangeSyncIdMapping

MAX_ID = 2**63 - 1

REGARDING_TYPES = [("account", "Account"), ("contact", "Contact")]


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, converted to UTC.

    PostgreSQL refuses offsets beyond ±15:59 ("-17:28" is valid ISO 8601), and converting a
    time at the edge of the calendar can overflow: both are a 400, not a database error.
    """

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("This time is out of range.", code="invalid") from None


@extend_schema_field(OpenApiTypes.DATETIME)
class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.Filter):
    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class OwnedRecordFilterSet(filters.FilterSet):
    owner = IdFilter(field_name="owner_user_id", help_text="Owned by this user (id).")
    queue = IdFilter(field_name="owner_queue_id", help_text="Owned by this queue (id).")
    modified_since = DateTimeFilter(
        field_name="modified_at",
        lookup_expr="gte",
        help_text="Changed at or after this time (ISO 8601).",
    )


def synced_through_mailbox(queryset: QuerySet[Any], mailbox_id: int) -> QuerySet[Any]:
    """Records linked to an Exchange item of this mailbox (through the id mappings)."""
    model = queryset.model
    mappings = ExchangeSyncIdMapping.objects.filter(
        mailbox_id=mailbox_id,
        crm_content_type__app_label=model._meta.app_label,
        crm_content_type__model=model._meta.model_name,
        crm_object_id=OuterRef("pk"),
    )
    return queryset.filter(Exists(mappings))


class ActivityFilterSet(OwnedRecordFilterSet):
    regarding_type = filters.ChoiceFilter(
        choices=REGARDING_TYPES,
        method="filter_regarding_type",
        help_text="Regarding a record of this type.",
    )
    regarding_id = IdFilter(
        field_name="regarding_object_id", help_text="Regarding the record with this id."
    )
    search = filters.CharFilter(
        field_name="subject",
        lookup_expr="icontains",
        max_length=200,
        help_text="Subject contains this text (case-insensitive).",
    )
    mailbox = IdFilter(method="filter_mailbox", help_text="Synchronized with this mailbox (id).")

    def filter_regarding_type(
        self, queryset: QuerySet[Any], name: str, value: str
    ) -> QuerySet[Any]:
        # A join on the content type table instead of a lookup query of its own.
        return queryset.filter(
            regarding_content_type__app_label="activities", regarding_content_type__model=value
        )

    def filter_mailbox(self, queryset: QuerySet[Any], name: str, value: int) -> QuerySet[Any]:
        return synced_through_mailbox(queryset, value)


class EmailFilterSet(ActivityFilterSet):
    mailbox = IdFilter(
        field_name="mailbox_id", help_text="Received by or sent through this mailbox (id)."
    )
    received_after = DateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = DateTimeFilter(field_name="received_at", lookup_expr="lt")
    sent_after = DateTimeFilter(field_name="sent_at", lookup_expr="gte")
    sent_before = DateTimeFilter(field_name="sent_at", lookup_expr="lt")

    class Meta:
        model = Email
        fields = ["direction", "status"]


class AppointmentFilterSet(ActivityFilterSet):
    start_after = DateTimeFilter(
        field_name="start", lookup_expr="gte", help_text="Starts at or after this time."
    )
    start_before = DateTimeFilter(
        field_name="start", lookup_expr="lt", help_text="Starts before this time."
    )
    end_after = DateTimeFilter(
        field_name="end", lookup_expr="gt", help_text="Ends after this time."
    )
    end_before = DateTimeFilter(
        field_name="end", lookup_expr="lte", help_text="Ends at or before this time."
    )

    class Meta:
        model = Appointment
        fields = ["busy_status", "is_cancelled", "is_all_day"]


class TaskFilterSet(ActivityFilterSet):
    start_after = DateTimeFilter(field_name="start_date", lookup_expr="gte")
    start_before = DateTimeFilter(field_name="start_date", lookup_expr="lt")
    due_after = DateTimeFilter(field_name="due_date", lookup_expr="gte")
    due_before = DateTimeFilter(field_name="due_date", lookup_expr="lt")

    class Meta:
        model = Task
        fields = ["status", "priority"]


class ContactFilterSet(OwnedRecordFilterSet):
    account = IdFilter(field_name="account_id", help_text="Works for this account (id).")
    search = filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text="Name, company or email address contains this text.",
    )
    mailbox = IdFilter(method="filter_mailbox", help_text="Synchronized with this mailbox (id).")

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(
            Q(display_name__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(company_name__icontains=value)
            | Q(email_address1__icontains=value)
        )

    def filter_mailbox(self, queryset: QuerySet[Any], name: str, value: int) -> QuerySet[Any]:
        return synced_through_mailbox(queryset, value)


class AccountFilterSet(OwnedRecordFilterSet):
    search = filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=200, help_text="Name contains."
    )

    class Meta:
        model = Account
        fields: list[str] = []
