"""Small functions that create valid rows; keyword arguments override any field. The one
factory module of the tests.

Users and queues are made without server-side sync by default, so that no mailbox appears
behind a test's back; tests of the automatic mailbox ask for it explicitly. `make_person`
is a user as the CRM makes one: on server-side sync (provisioning gives them a mailbox on
the default profile) and signing in with `PASSWORD`.
"""

import itertools
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from activities.models import (
    Account,
    ActivityParty,
    Appointment,
    Attachment,
    Contact,
    Email,
    Task,
)
from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from mailboxes.models import (
    Alert,
    ExchangeSyncIdMapping,
    FolderSyncState,
    ItemType,
    ItemTypeSyncOptions,
    Mailbox,
    MailboxTrackingFolder,
    Queue,
)
from profiles.models import EmailServerProfile
from users.models import User

_sequence = itertools.count(1)

NO_SYNC = {
    "incoming_delivery_method": DeliveryMethod.NONE,
    "outgoing_delivery_method": OutgoingDeliveryMethod.NONE,
}
SERVER_SIDE_SYNC = {
    "incoming_delivery_method": DeliveryMethod.SERVER_SIDE_SYNC,
    "outgoing_delivery_method": OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
}
# A user's delivery methods as the model defaults them.
SYNCED = {**SERVER_SIDE_SYNC, "act_delivery_method": ActDeliveryMethod.SERVER_SIDE_SYNC}
# What `make_person` users sign in with.
PASSWORD = "correct horse battery staple"


def _next() -> int:
    return next(_sequence)


def make_user(**fields: Any) -> User:
    n = _next()
    fields.setdefault("username", f"user{n}")
    fields.setdefault("email", f"user{n}@example.com")
    for name, value in {**NO_SYNC, "act_delivery_method": ActDeliveryMethod.NONE}.items():
        fields.setdefault(name, value)
    password = fields.pop("password", None)
    user = User(**fields)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user


def make_person(username: str | None = None, **fields: Any) -> User:
    """A user as the CRM makes one: server-side sync on (so provisioning gives them a
    mailbox), signing in with `PASSWORD`, an address made of the user name."""
    username = username or f"person{_next()}"
    fields.setdefault("email", f"{username}@example.test")
    fields.setdefault("password", PASSWORD)
    return make_user(username=username, **{**SYNCED, **fields})


def make_superuser(**fields: Any) -> User:
    return make_user(is_staff=True, is_superuser=True, **fields)


def make_queue(**fields: Any) -> Queue:
    n = _next()
    fields.setdefault("name", f"queue{n}")
    fields.setdefault("email_address", f"queue{n}@example.com")
    if "owner" not in fields:
        fields["owner"] = make_user()
    for name, value in NO_SYNC.items():
        fields.setdefault(name, value)
    return Queue.objects.create(**fields)


def make_profile(**fields: Any) -> EmailServerProfile:
    n = _next()
    fields.setdefault("name", f"Exchange {n}")
    fields.setdefault("incoming_server_location", f"https://mail{n}.example.com/EWS/Exchange.asmx")
    return EmailServerProfile.objects.create(**fields)


def make_mailbox(**fields: Any) -> Mailbox:
    """A mailbox of a new user unless a user or a queue is given."""
    if "user" not in fields and "queue" not in fields:
        fields["user"] = make_user()
    owner = fields.get("user") or fields.get("queue")
    fields.setdefault("email_address", getattr(owner, "email", "") or f"box{_next()}@example.com")
    if fields.get("approval_status") == Mailbox.ApprovalStatus.APPROVED:
        # Approved as created: the approval covers the address it is created with.
        fields.setdefault("approved_email_address", fields["email_address"])
    return Mailbox.objects.create(**fields)


def make_sync_options(**fields: Any) -> ItemTypeSyncOptions:
    """The options row of a mailbox, which every mailbox gets on creation."""
    mailbox = fields.pop("mailbox", None) or make_mailbox()
    item_type = fields.pop("item_type", ItemType.APPOINTMENT)
    options = ItemTypeSyncOptions.objects.get(mailbox=mailbox, item_type=item_type)
    for name, value in fields.items():
        setattr(options, name, value)
    options.save()
    return options


def make_tracking_folder(**fields: Any) -> MailboxTrackingFolder:
    n = _next()
    if "mailbox" not in fields:
        fields["mailbox"] = make_mailbox()
    fields.setdefault("exchange_folder_id", f"AAMkFolder{n}")
    fields.setdefault("exchange_folder_name", f"Customer {n}")
    return MailboxTrackingFolder.objects.create(**fields)


def make_account(**fields: Any) -> Account:
    fields.setdefault("name", f"Account {_next()}")
    if "owner_user" not in fields and "owner_queue" not in fields:
        fields["owner_user"] = make_user()
    return Account.objects.create(**fields)


def make_contact(**fields: Any) -> Contact:
    n = _next()
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", f"Contact{n}")
    fields.setdefault("email_address1", f"contact{n}@example.org")
    if "owner_user" not in fields and "owner_queue" not in fields:
        fields["owner_user"] = make_user()
    return Contact.objects.create(**fields)


def make_email(**fields: Any) -> Email:
    fields.setdefault("subject", f"Email {_next()}")
    fields.setdefault("direction", Email.Direction.INCOMING)
    if "owner_user" not in fields and "owner_queue" not in fields:
        fields["owner_user"] = make_user()
    return Email.objects.create(**fields)


def make_outgoing_email(mailbox: Mailbox, *, to: str, **fields: Any) -> Email:
    """An email the CRM sends from the mailbox to one address, waiting to be sent unless
    `status` says otherwise."""
    fields.setdefault("subject", f"Email {_next()}")
    fields.setdefault("status", Email.Status.PENDING_SEND)
    email = Email.objects.create(
        owner_user=mailbox.user,
        owner_queue=mailbox.queue,
        mailbox=mailbox,
        direction=Email.Direction.OUTGOING,
        **fields,
    )
    ActivityParty.objects.create(email=email, role=ActivityParty.Role.TO, address=to)
    return email


def make_appointment(**fields: Any) -> Appointment:
    start = fields.pop("start", timezone.now() + timedelta(days=1))
    fields.setdefault("subject", f"Meeting {_next()}")
    fields.setdefault("end", start + timedelta(hours=1))
    if "owner_user" not in fields and "owner_queue" not in fields:
        fields["owner_user"] = make_user()
    return Appointment.objects.create(start=start, **fields)


def make_task(**fields: Any) -> Task:
    fields.setdefault("subject", f"Task {_next()}")
    if "owner_user" not in fields and "owner_queue" not in fields:
        fields["owner_user"] = make_user()
    return Task.objects.create(**fields)


def make_party(**fields: Any) -> ActivityParty:
    if "email" not in fields and "appointment" not in fields:
        fields["email"] = make_email()
    fields.setdefault("role", ActivityParty.Role.TO)
    fields.setdefault("address", f"party{_next()}@example.org")
    return ActivityParty.objects.create(**fields)


def make_attachment(**fields: Any) -> Attachment:
    if not {"email", "appointment", "task"} & fields.keys():
        fields["email"] = make_email()
    fields.setdefault("filename", f"file{_next()}.txt")
    return Attachment.objects.create(**fields)


def make_mapping(**fields: Any) -> ExchangeSyncIdMapping:
    n = _next()
    if "mailbox" not in fields:
        fields["mailbox"] = make_mailbox()
    crm_object = fields.pop("crm_object", None) or make_appointment()
    fields.setdefault("object_type", ItemType.APPOINTMENT)
    fields.setdefault("exchange_item_id", f"AAMkItem{n}")
    fields.setdefault("item_subject", str(crm_object))
    return ExchangeSyncIdMapping.objects.create(
        crm_content_type=ContentType.objects.get_for_model(crm_object),
        crm_object_id=crm_object.pk,
        **fields,
    )


def make_folder_state(**fields: Any) -> FolderSyncState:
    n = _next()
    if "mailbox" not in fields:
        fields["mailbox"] = make_mailbox()
    fields.setdefault("protocol", FolderSyncState.Protocol.EWS)
    fields.setdefault("item_type", ItemType.APPOINTMENT)
    fields.setdefault("folder_id", f"AAMkCalendar{n}")
    fields.setdefault("folder_name", "Calendar")
    return FolderSyncState.objects.create(**fields)


def make_alert(**fields: Any) -> Alert:
    if "mailbox" not in fields and "profile" not in fields:
        fields["mailbox"] = make_mailbox()
    fields.setdefault("message", "The server refused the password.")
    fields.setdefault("code", "ErrorAccessDenied")
    return Alert.objects.create(**fields)
