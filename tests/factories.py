"""Small functions that create valid rows; keyword arguments override any field. The one
factory module of the tests.

Users and queues are made without server-side sync by default, so that no mailbox appears
behind a test's back; tests of the automatic mailbox ask for it explicitly (`SERVER_SIDE_SYNC`).
`make_person` is a user as the CRM makes one: on server-side sync (provisioning gives them
a mailbox on the default profile) and signing in with `PASSWORD`.

Records (accounts, contacts, email, appointments, tasks) take their owner, a user or a
queue, as the first argument, or `owner_user=` / `owner_queue=`; without one, a new user
owns them.
"""

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta
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
from profiles.saving import create_profile
from users.models import User

_sequence = itertools.count(1)

NO_SYNC: dict[str, Any] = {
    "incoming_delivery_method": DeliveryMethod.NONE,
    "outgoing_delivery_method": OutgoingDeliveryMethod.NONE,
}
SERVER_SIDE_SYNC: dict[str, Any] = {
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


def make_queue(owner: User | None = None, *, members: Iterable[User] = (), **fields: Any) -> Queue:
    """A queue owned by `owner` (else a new user) with these members."""
    n = _next()
    fields.setdefault("name", f"queue{n}")
    fields.setdefault("email_address", f"queue{n}@example.com")
    fields["owner"] = owner or fields.get("owner") or make_user()
    for name, value in NO_SYNC.items():
        fields.setdefault(name, value)
    queue = Queue.objects.create(**fields)
    queue.members.add(*members)
    return queue


def make_profile(**fields: Any) -> EmailServerProfile:
    """A profile that keeps its server type's rules (profiles/validation.py), saved as code
    saves profiles (`save_profile`): an EWS URL for Exchange, a host name for POP3/IMAP, an
    autodiscover domain when autodiscover is on, and for Microsoft 365, Exchange Online and
    OAuth an application with a client secret, unless a private key is given. An active
    profile whose given fields break the rules is refused (ValidationError); give
    `is_active=False` for one that must break them."""
    n = _next()
    fields.setdefault("name", f"Exchange {n}")
    probe = EmailServerProfile(**fields)
    types = EmailServerProfile.ServerType
    if probe.server_type in (types.POP3_SMTP, types.IMAP_SMTP):
        fields.setdefault("incoming_server_location", f"mail{n}.example.com")
    elif not probe.is_graph:
        fields.setdefault(
            "incoming_server_location", f"https://mail{n}.example.com/EWS/Exchange.asmx"
        )
    if probe.incoming_use_autodiscover or probe.outgoing_use_autodiscover:
        fields.setdefault("autodiscover_domain", "example.com")
    if probe.uses_app_credentials:
        fields.setdefault("oauth_tenant_id", "contoso.onmicrosoft.com")
        fields.setdefault("oauth_client_id", f"00000000-0000-0000-0000-{n:012d}")
        if not fields.get("oauth_private_key"):
            fields.setdefault("oauth_client_secret", f"factory-secret-{n}")
    return create_profile(**fields)


def make_broken_profile(**fields: Any) -> EmailServerProfile:
    """An active profile that breaks its server type's rules, as the database may hold one
    (changed outside crmsync, or saved before a rule existed): saved inactive, then turned
    on by an UPDATE, since code cannot save it active (`profiles/saving.save_profile`)."""
    profile = make_profile(**{**fields, "is_active": False})
    EmailServerProfile.objects.filter(pk=profile.pk).update(is_active=True)
    profile.refresh_from_db()
    return profile


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


def _owned(owner: User | Queue | None, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with the record's owner: `owner`, else the one given, else a new user."""
    if isinstance(owner, Queue):
        fields["owner_queue"] = owner
    elif owner is not None:
        fields["owner_user"] = owner
    elif "owner_user" not in fields and "owner_queue" not in fields:
        fields["owner_user"] = make_user()
    return fields


def make_account(owner: User | Queue | None = None, **fields: Any) -> Account:
    fields.setdefault("name", f"Account {_next()}")
    return Account.objects.create(**_owned(owner, fields))


def make_contact(owner: User | Queue | None = None, **fields: Any) -> Contact:
    n = _next()
    fields.setdefault("first_name", "Ada")
    fields.setdefault("last_name", f"Contact{n}")
    fields.setdefault("email_address1", f"contact{n}@example.org")
    return Contact.objects.create(**_owned(owner, fields))


def make_email(owner: User | Queue | None = None, **fields: Any) -> Email:
    """An email, received unless its direction or status says otherwise."""
    fields.setdefault("subject", f"Email {_next()}")
    fields.setdefault("direction", Email.Direction.INCOMING)
    if fields["direction"] == Email.Direction.INCOMING:
        fields.setdefault("status", Email.Status.RECEIVED)
    return Email.objects.create(**_owned(owner, fields))


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


def make_appointment(
    owner: User | Queue | None = None, *, start: datetime | None = None, **fields: Any
) -> Appointment:
    """An appointment of an hour, starting tomorrow unless `start` says otherwise."""
    start = start or timezone.now() + timedelta(days=1)
    fields.setdefault("subject", f"Meeting {_next()}")
    fields.setdefault("end", start + timedelta(hours=1))
    return Appointment.objects.create(start=start, **_owned(owner, fields))


def make_task(owner: User | Queue | None = None, **fields: Any) -> Task:
    fields.setdefault("subject", f"Task {_next()}")
    return Task.objects.create(**_owned(owner, fields))


def make_party(activity: Email | Appointment | None = None, **fields: Any) -> ActivityParty:
    """A party of `activity` (an email or an appointment; else a new email)."""
    if isinstance(activity, Email):
        fields["email"] = activity
    elif activity is not None:
        fields["appointment"] = activity
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
