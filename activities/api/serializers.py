"""Serializers of the REST API.

Owners are ids (`owner_user` or `owner_queue`, exactly one); the regarding record is a type
and an id. Nothing here reads a mailbox's credentials: a mailbox appears only as its id.
"""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activities.api.concurrency import etag_for
from activities.api.filters import MAX_ID, REGARDING_TYPES
from activities.api.parties import (
    AttendeesField,
    PartySerializer,
    replace_attendees,
    resolve_attendees,
)
from activities.api.visibility import can_use_queue, visible_to
from activities.downloads import download_url
from activities.models import (
    Account,
    ActivityParty,
    Appointment,
    Attachment,
    Contact,
    Email,
    Task,
)
from crmsync.choices import OutgoingDeliveryMethod
from mailboxes.models import Mailbox, Queue
from users.models import User

REGARDING_MODELS: dict[str, type[Model]] = {"account": Account, "contact": Contact}

OWNED_FIELDS = ["owner_user", "owner_queue", "created_at", "modified_at", "change_origin", "etag"]


def _request_user(serializer: serializers.Serializer[Any]) -> User:
    user: User = serializer.context["request"].user
    return user


class RegardingTypeField(serializers.ChoiceField):
    """The regarding record's type as a short name (`account`, `contact`).

    Read from the content type id through Django's content type cache, so a list needs no
    join and no query per row for it.
    """

    def get_attribute(self, instance: Any) -> Any:
        return instance.regarding_content_type_id

    def to_representation(self, value: Any) -> str:
        # DRF renders a null id as null without calling this.
        return ContentType.objects.get_for_id(value).model

    def to_internal_value(self, data: Any) -> ContentType:  # type: ignore[override]
        name = super().to_internal_value(data)
        return ContentType.objects.get_for_model(REGARDING_MODELS[name])


class OwnedRecordSerializer(serializers.ModelSerializer[Any]):
    """Owner checks shared by every writable record: yourself, or a queue you belong to."""

    owner_user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text="The owning user (id). Defaults to you when no queue is given.",
    )
    owner_queue = serializers.PrimaryKeyRelatedField(
        queryset=Queue.objects.all(),
        required=False,
        allow_null=True,
        help_text="The owning queue (id), instead of a user.",
    )
    etag = serializers.SerializerMethodField(
        help_text="The record's current ETag, for If-Match on a later update."
    )

    def get_etag(self, instance: Model) -> str:
        return etag_for(instance)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        user = _request_user(self)
        instance = self.instance
        user_given = "owner_user" in attrs
        queue_given = "owner_queue" in attrs
        # Naming one kind of owner replaces the other.
        if user_given and attrs["owner_user"] is not None and not queue_given:
            attrs["owner_queue"] = None
        if queue_given and attrs["owner_queue"] is not None and not user_given:
            attrs["owner_user"] = None
        owner_user = attrs.get("owner_user", getattr(instance, "owner_user", None))
        owner_queue = attrs.get("owner_queue", getattr(instance, "owner_queue", None))
        if owner_user is None and owner_queue is None:
            if instance is not None:
                raise serializers.ValidationError(
                    {"owner_user": ["A record needs an owner: a user or a queue."]}
                )
            attrs["owner_user"] = owner_user = user
        if owner_user is not None and owner_queue is not None:
            raise serializers.ValidationError(
                {"owner_queue": ["A record belongs to a user or to a queue, not both."]}
            )
        if user_given and owner_user is not None and owner_user != user and not user.is_staff:
            raise serializers.ValidationError(
                {"owner_user": ["You can give records only to yourself or to one of your queues."]}
            )
        if queue_given and owner_queue is not None and not can_use_queue(user, owner_queue):
            raise serializers.ValidationError(
                {"owner_queue": ["You are not the owner or a member of this queue."]}
            )
        return attrs


class ActivitySerializer(OwnedRecordSerializer):
    regarding_type = RegardingTypeField(
        source="regarding_content_type",
        choices=REGARDING_TYPES,
        required=False,
        allow_null=True,
        help_text="The type of the record this activity is regarding.",
    )
    regarding_id = serializers.IntegerField(
        source="regarding_object_id",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="The id of the record this activity is regarding.",
    )
    categories = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=100
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance = self.instance
        content_type = attrs.get(
            "regarding_content_type", getattr(instance, "regarding_content_type", None)
        )
        object_id = attrs.get("regarding_object_id", getattr(instance, "regarding_object_id", None))
        if (content_type is None) != (object_id is None):
            missing = "regarding_id" if object_id is None else "regarding_type"
            raise serializers.ValidationError(
                {missing: ["Give both regarding_type and regarding_id, or neither."]}
            )
        if content_type is not None and (
            "regarding_content_type" in attrs or "regarding_object_id" in attrs
        ):
            model = content_type.model_class()
            records = visible_to(model._default_manager.all(), _request_user(self))
            if not records.filter(pk=object_id).exists():
                raise serializers.ValidationError(
                    {"regarding_id": [f"No {content_type.model} with this id is visible to you."]}
                )
        return attrs


@extend_schema_field(OpenApiTypes.STR)
class AttachmentDownloadField(serializers.ReadOnlyField):
    """The path of an attachment's download on this server, rendered from its id."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text",
            "Where the content is downloaded (a path on this server), with your session or "
            "your API token; 404 while the content is not stored (see `error`).",
        )
        super().__init__(source="id", **kwargs)

    def to_representation(self, value: int) -> str:
        return download_url(Attachment(pk=value))


class AttachmentSerializer(serializers.ModelSerializer[Attachment]):
    download_url = AttachmentDownloadField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "is_inline", "error", "download_url"]
        read_only_fields = fields


class EmailStatusTextField(serializers.CharField):
    """An email's status as the pages say it ("May have been sent")."""

    def to_representation(self, value: Any) -> str:
        return str(dict(Email.Status.choices).get(value, value))


class EmailSerializer(ActivitySerializer):
    parties = PartySerializer(many=True, read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    status_text = EmailStatusTextField(
        source="status",
        read_only=True,
        help_text='The status in words ("May have been sent", "Sent", ...); '
        "`processing_error` says why an email may have been sent or failed.",
    )

    class Meta:
        model = Email
        fields = [
            "id",
            "subject",
            "direction",
            "status",
            "status_text",
            "processing_error",
            "mailbox",
            "from_address",
            "parties",
            "message_id",
            "in_reply_to",
            "conversation_id",
            "body_text",
            "body_html",
            "sent_at",
            "received_at",
            "regarding_type",
            "regarding_id",
            "categories",
            "attachments",
            *OWNED_FIELDS,
        ]
        read_only_fields = fields


class OutgoingEmailSerializer(ActivitySerializer):
    """A new email to send: it waits in "pending send" until a worker sends it."""

    to = serializers.ListField(
        child=serializers.EmailField(max_length=320), required=False, max_length=500
    )
    cc = serializers.ListField(
        child=serializers.EmailField(max_length=320), required=False, max_length=500
    )
    bcc = serializers.ListField(
        child=serializers.EmailField(max_length=320), required=False, max_length=500
    )
    send_from_queue = serializers.PrimaryKeyRelatedField(
        queryset=Queue.objects.all(),
        required=False,
        allow_null=True,
        help_text="Send through this queue's mailbox (you must own it or be a member); "
        "by default the email is sent through your own mailbox.",
    )

    class Meta:
        model = Email
        fields = [
            "subject",
            "body_text",
            "body_html",
            "to",
            "cc",
            "bcc",
            "send_from_queue",
            "regarding_type",
            "regarding_id",
            "categories",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = _request_user(self)
        queue: Queue | None = attrs.pop("send_from_queue", None)
        if queue is not None:
            if not can_use_queue(user, queue):
                raise serializers.ValidationError(
                    {"send_from_queue": ["You are not the owner or a member of this queue."]}
                )
            mailbox = Mailbox.objects.filter(queue=queue).first()
            attrs["owner_queue"] = queue
            missing_field = "send_from_queue"
        else:
            mailbox = Mailbox.objects.filter(user=user).first()
            attrs["owner_user"] = user
            missing_field = "non_field_errors"
        if mailbox is None:
            raise serializers.ValidationError(
                {missing_field: ["There is no mailbox to send this email through."]}
            )
        if mailbox.outgoing_delivery_method == OutgoingDeliveryMethod.NONE:
            raise serializers.ValidationError(
                {missing_field: ["Outgoing email is turned off for this mailbox."]}
            )
        if not (attrs.get("to") or attrs.get("cc") or attrs.get("bcc")):
            raise serializers.ValidationError({"to": ["An email needs at least one recipient."]})
        attrs["mailbox"] = mailbox
        return super().validate(attrs)

    def create(self, validated_data: dict[str, Any]) -> Email:
        recipients = {
            ActivityParty.Role.TO: validated_data.pop("to", []),
            ActivityParty.Role.CC: validated_data.pop("cc", []),
            ActivityParty.Role.BCC: validated_data.pop("bcc", []),
        }
        mailbox: Mailbox = validated_data["mailbox"]
        email = Email.objects.create(
            **validated_data,
            direction=Email.Direction.OUTGOING,
            status=Email.Status.PENDING_SEND,
            from_address=mailbox.email_address,
        )
        parties = [
            ActivityParty(
                email=email,
                role=ActivityParty.Role.FROM,
                address=mailbox.email_address,
                user_id=mailbox.user_id,
                queue_id=mailbox.queue_id,
            )
        ]
        parties += [
            ActivityParty(email=email, role=role, address=address)
            for role, addresses in recipients.items()
            for address in addresses
        ]
        ActivityParty.objects.bulk_create(parties)
        return email


class AppointmentSerializer(ActivitySerializer):
    parties = PartySerializer(many=True, read_only=True)
    attendees = AttendeesField()

    class Meta:
        model = Appointment
        fields = [
            "id",
            *Appointment.CONTENT_FIELDS,
            "series_master",
            "original_start",
            "parties",
            "attendees",
            "regarding_type",
            "regarding_id",
            *OWNED_FIELDS,
        ]
        read_only_fields = [
            "ical_uid",
            "recurrence",
            "series_master",
            "original_start",
            "created_at",
            "modified_at",
            "change_origin",
        ]
        extra_kwargs = {
            "is_cancelled": {
                "help_text": "Set to true to cancel the meeting: the next sync of its "
                "organizer's mailbox sends a cancellation, once, to the attendees who were "
                'sent the meeting (README, "Meeting invitations") and removes it from the '
                "organizer's Exchange calendar. A cancelled meeting cannot be reinstated."
            }
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        reinstated = attrs.get("is_cancelled") is False
        if self.instance is not None and self.instance.is_cancelled and reinstated:
            raise serializers.ValidationError(
                {"is_cancelled": ["A cancelled meeting cannot be reinstated; create a new one."]}
            )
        start = attrs.get("start", getattr(self.instance, "start", None))
        end = attrs.get("end", getattr(self.instance, "end", None))
        if start is not None and end is not None and end < start:
            raise serializers.ValidationError({"end": ["The end is before the start."]})
        if "attendees" in attrs:
            owner = attrs.get("owner_user", getattr(self.instance, "owner_user", None))
            attrs["attendees"] = resolve_attendees(attrs["attendees"], _request_user(self), owner)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Appointment:
        attendees = validated_data.pop("attendees", None)
        return replace_attendees(super().create(validated_data), attendees)

    def update(self, instance: Appointment, validated_data: dict[str, Any]) -> Appointment:
        attendees = validated_data.pop("attendees", None)
        return replace_attendees(super().update(instance, validated_data), attendees)


class TaskSerializer(ActivitySerializer):
    class Meta:
        model = Task
        fields = ["id", *Task.CONTENT_FIELDS, "regarding_type", "regarding_id", *OWNED_FIELDS]
        read_only_fields = ["created_at", "modified_at", "change_origin"]
        extra_kwargs = {"percent_complete": {"min_value": 0, "max_value": 100}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        start = attrs.get("start_date", getattr(self.instance, "start_date", None))
        due = attrs.get("due_date", getattr(self.instance, "due_date", None))
        if start is not None and due is not None and due < start:
            raise serializers.ValidationError({"due_date": ["The due date is before the start."]})
        return attrs


class PostalAddressSerializer(serializers.Serializer[dict[str, str]]):
    street = serializers.CharField(max_length=500, required=False, allow_blank=True)
    city = serializers.CharField(max_length=200, required=False, allow_blank=True)
    state = serializers.CharField(max_length=200, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ContactSerializer(OwnedRecordSerializer):
    phone_numbers = serializers.DictField(
        child=serializers.CharField(max_length=64, allow_blank=True),
        required=False,
        help_text='Label to number, e.g. {"business": "+1 555 0100"}.',
    )
    addresses = serializers.DictField(
        child=PostalAddressSerializer(),
        required=False,
        help_text="Label (business, home, other) to postal address.",
    )
    categories = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=100
    )
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Contact
        fields = ["id", *Contact.CONTENT_FIELDS, *OWNED_FIELDS]
        read_only_fields = ["created_at", "modified_at", "change_origin"]

    def validate_account(self, account: Account | None) -> Account | None:
        if account is None:
            return None
        if not visible_to(Account.objects.filter(pk=account.pk), _request_user(self)).exists():
            raise serializers.ValidationError("No account with this id is visible to you.")
        return account

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        first = attrs.get("first_name", getattr(self.instance, "first_name", ""))
        last = attrs.get("last_name", getattr(self.instance, "last_name", ""))
        display = attrs.get("display_name", getattr(self.instance, "display_name", ""))
        email = attrs.get("email_address1", getattr(self.instance, "email_address1", ""))
        if not (first or last or display or email):
            raise serializers.ValidationError(
                {"last_name": ["A contact needs a name or an email address."]}
            )
        return attrs


class AccountSerializer(OwnedRecordSerializer):
    # Plain strings: these may be blank, and "" is no valid `format: email` / `format: uri`.
    email_address = serializers.CharField(read_only=True)
    website = serializers.CharField(read_only=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "email_address",
            "phone",
            "website",
            "description",
            *OWNED_FIELDS,
        ]
        read_only_fields = fields
