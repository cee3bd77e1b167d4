"""Views of `/api/v1/`: lists with filters and cursor pages, details, writes with If-Match."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model, Prefetch, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from activities.api import filters, serializers
from activities.api.concurrency import check_if_match, etag_for, if_none_match_hits
from activities.api.exceptions import api_exception_handler
from activities.api.listing import renderer_for, rows_for_page
from activities.api.pagination import ActivityCursorPagination
from activities.api.visibility import visible_to
from activities.models import (
    Account,
    ActivityParty,
    Appointment,
    ChangeOrigin,
    Contact,
    Email,
    Task,
)
from mailboxes.models import ChangeType, ExchangeSyncIdMapping
from users.models import User

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Apply the change only while the record still has this ETag (else 412). "
    "Optional: without it the change is applied as is.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Answer 304 Not Modified while the record still has this ETag.",
)
# The parties of a page, in a stable order, with the columns the serializer reads.
PARTIES = ActivityParty.objects.order_by("pk").only(
    "email_id",
    "appointment_id",
    "role",
    "address",
    "display_name",
    "user_id",
    "contact_id",
    "account_id",
    "queue_id",
)
PRECONDITION_FAILED = OpenApiResponse(description="The record changed since the given ETag.")
NOT_MODIFIED = OpenApiResponse(description="The record still has the given ETag.")


class RecordViewSet(viewsets.GenericViewSet[Any]):
    """Visibility, filtering, ordering, cursor pages and ETags shared by every endpoint."""

    model: type[Model]
    # Owners are rendered as ids: no join needed for them.
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str | Prefetch[Any], ...] = ()
    pagination_class = ActivityCursorPagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["modified_at", "created_at"]
    ordering = ["-modified_at"]
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Any]:
        queryset = self.model._default_manager.all()
        if getattr(self, "swagger_fake_view", False):
            return queryset.none()
        user: User = self.request.user  # type: ignore[assignment]
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        if self.prefetch_related:
            queryset = queryset.prefetch_related(*self.prefetch_related)
        return visible_to(queryset, user)

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        if if_none_match_hits(request, instance):
            return Response(
                status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag_for(instance)}
            )
        serializer = self.get_serializer(instance)
        return Response(serializer.data, headers={"ETag": etag_for(instance)})


class RowListMixin:
    """`list` rendered from `values()` rows (`activities.api.listing`): the serializer's JSON
    for less work, on the endpoints whose pages are large and busy."""

    def list(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        renderer = renderer_for(self.get_serializer_class())
        # The cursor reads its position from the ordering column of the page's last row.
        rows = rows_for_page(queryset, renderer, extra_columns=self.ordering_fields)
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(renderer.render(list(rows)))
        return self.get_paginated_response(renderer.render(page))


class WritableRecordViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    RecordViewSet,
):
    """Create, update and delete; every change is marked as coming from the API.

    The sync engine pushes records changed with origin `api` to Exchange and deletes the
    Exchange items whose mapping says the CRM record was deleted.
    """

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = serializer.save(change_origin=ChangeOrigin.API, change_origin_mailbox=None)
        output = self.get_serializer(instance)
        return Response(
            output.data, status=status.HTTP_201_CREATED, headers={"ETag": etag_for(instance)}
        )

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        visible = self.get_object()
        with transaction.atomic():
            # Lock the row so that the If-Match check and the write are one step.
            instance = type(visible)._default_manager.select_for_update().get(pk=visible.pk)
            check_if_match(request, instance)
            serializer = self.get_serializer(instance, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            instance = serializer.save(change_origin=ChangeOrigin.API, change_origin_mailbox=None)
        output = self.get_serializer(self.get_queryset().get(pk=instance.pk))
        return Response(output.data, headers={"ETag": etag_for(instance)})

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        visible = self.get_object()
        with transaction.atomic():
            instance = type(visible)._default_manager.select_for_update().get(pk=visible.pk)
            check_if_match(request, instance)
            ExchangeSyncIdMapping.objects.filter(
                crm_content_type=ContentType.objects.get_for_model(type(instance)),
                crm_object_id=instance.pk,
            ).update(from_crm_change_type=ChangeType.DELETE)
            instance.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def write_schema(serializer: type[BaseSerializer[Any]]) -> dict[str, Any]:
    """Document the ETag headers and their answers on retrieve, update and delete."""
    return {
        "retrieve": extend_schema(
            parameters=[IF_NONE_MATCH], responses={200: serializer, 304: NOT_MODIFIED}
        ),
        "update": extend_schema(
            parameters=[IF_MATCH], responses={200: serializer, 412: PRECONDITION_FAILED}
        ),
        "partial_update": extend_schema(
            parameters=[IF_MATCH], responses={200: serializer, 412: PRECONDITION_FAILED}
        ),
        "destroy": extend_schema(
            parameters=[IF_MATCH], responses={204: None, 412: PRECONDITION_FAILED}
        ),
    }


@extend_schema_view(
    list=extend_schema(summary="List appointments"),
    **write_schema(serializers.AppointmentSerializer),
)
class AppointmentViewSet(RowListMixin, WritableRecordViewSet):
    """Appointments; created and changed ones are pushed to the owner's Exchange calendar."""

    model = Appointment
    queryset = Appointment.objects.all()
    serializer_class = serializers.AppointmentSerializer
    filterset_class = filters.AppointmentFilterSet
    prefetch_related = (Prefetch("parties", queryset=PARTIES),)
    ordering_fields = ["start", "end", "modified_at", "created_at"]
    ordering = ["start"]


@extend_schema_view(
    list=extend_schema(summary="List tasks"), **write_schema(serializers.TaskSerializer)
)
class TaskViewSet(RowListMixin, WritableRecordViewSet):
    """Tasks; created and changed ones are pushed to the owner's Exchange tasks."""

    model = Task
    queryset = Task.objects.all()
    serializer_class = serializers.TaskSerializer
    filterset_class = filters.TaskFilterSet


@extend_schema_view(
    list=extend_schema(summary="List contacts"), **write_schema(serializers.ContactSerializer)
)
class ContactViewSet(mixins.ListModelMixin, WritableRecordViewSet):
    """Contacts; created and changed ones are pushed to Exchange contacts."""

    model = Contact
    queryset = Contact.objects.all()
    serializer_class = serializers.ContactSerializer
    filterset_class = filters.ContactFilterSet


@extend_schema_view(
    list=extend_schema(summary="List emails"),
    retrieve=write_schema(serializers.EmailSerializer)["retrieve"],
    create=extend_schema(
        summary="Send an email",
        description="Creates an outgoing email in 'pending send' in your mailbox (or a "
        "queue's); a worker sends it.",
        request=serializers.OutgoingEmailSerializer,
        responses={201: serializers.EmailSerializer},
    ),
)
class EmailViewSet(
    RowListMixin,
    mixins.CreateModelMixin,
    RecordViewSet,
):
    """Emails, received and sent. New ones are outgoing and wait for a worker to send them."""

    model = Email
    queryset = Email.objects.all()
    filterset_class = filters.EmailFilterSet
    prefetch_related = (Prefetch("parties", queryset=PARTIES), "attachments")
    ordering_fields = ["modified_at", "created_at"]

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "create":
            return serializers.OutgoingEmailSerializer
        return serializers.EmailSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.save(change_origin=ChangeOrigin.API, change_origin_mailbox=None)
        output = serializers.EmailSerializer(
            self.get_queryset().get(pk=email.pk), context=self.get_serializer_context()
        )
        return Response(
            output.data, status=status.HTTP_201_CREATED, headers={"ETag": etag_for(email)}
        )


@extend_schema_view(
    list=extend_schema(summary="List accounts"),
    retrieve=write_schema(serializers.AccountSerializer)["retrieve"],
)
class AccountViewSet(mixins.ListModelMixin, RecordViewSet):
    """Accounts (read only)."""

    model = Account
    queryset = Account.objects.all()
    serializer_class = serializers.AccountSerializer
    filterset_class = filters.AccountFilterSet
    ordering_fields = ["name", "modified_at", "created_at"]
    ordering = ["name"]
