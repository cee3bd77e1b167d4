"""Fixtures for the email engine: real Dovecot (POP3 + IMAP) and SMTP servers on loopback,
started once per test session, and small factories for CRM records."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.contrib.contenttypes.models import ContentType

from activities.models import Account, ActivityParty, Contact, Email
from mailboxes.models import Mailbox, MailboxTrackingFolder, Queue
from profiles.models import EmailServerProfile
from tests import factories
from tests.factories import make_person
from tests.servers import DovecotServer, SmtpServer
from tests.servers.dovecot import ENSURE_SCRIPT, dovecot_binary


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    if dovecot_binary() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["bash", str(ENSURE_SCRIPT)], check=True)
    if dovecot_binary() is None:
        pytest.fail("Dovecot is missing: run scripts/ensure-mail-servers.sh")
    server = DovecotServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smtp_server(dovecot: DovecotServer) -> Iterator[SmtpServer]:
    server = SmtpServer(dovecot).start()
    yield server
    server.stop()


@pytest.fixture
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _mail_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CRMSYNC_TRACKING_TOKEN_PREFIX = "CRM:"
    settings.CRMSYNC_TRACKING_TOKEN_DIGITS = 7


def unique(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_profile(db) -> Callable[..., EmailServerProfile]:
    """A profile of this server type by the one factory module (which keeps the type's rules)."""

    def make(server_type: str, **extra) -> EmailServerProfile:
        return factories.make_profile(name=unique("profile"), server_type=server_type, **extra)

    return make


def _dovecot_profile(make_profile, server_type: str, port: int, dovecot, smtp_server):
    """A profile reading the test Dovecot over `port` and sending to the test SMTP server."""
    return make_profile(
        server_type,
        incoming_server_location=dovecot.host,
        incoming_port=port,
        incoming_use_ssl=False,
        outgoing_server_location=smtp_server.host,
        outgoing_port=smtp_server.port,
        outgoing_use_ssl=False,
    )


@pytest.fixture
def pop3_profile(make_profile, dovecot, smtp_server) -> EmailServerProfile:
    pop3 = EmailServerProfile.ServerType.POP3_SMTP
    return _dovecot_profile(make_profile, pop3, dovecot.pop3_port, dovecot, smtp_server)


@pytest.fixture
def imap_profile(make_profile, dovecot, smtp_server) -> EmailServerProfile:
    imap = EmailServerProfile.ServerType.IMAP_SMTP
    return _dovecot_profile(make_profile, imap, dovecot.imap_port, dovecot, smtp_server)


@pytest.fixture
def make_mailbox(db, dovecot) -> Callable[..., Mailbox]:
    """A user's (or, with queue_name, a queue's) mailbox on `profile`, with a Dovecot user."""

    def make(
        profile: EmailServerProfile,
        *,
        queue_name: str | None = None,
        tracking_option: str = Mailbox.TrackingOption.ALL,
        **extra,
    ) -> Mailbox:
        address = f"{unique('box')}@mail.test"
        dovecot.add_user(address)
        if queue_name:
            owner = make_person()
            queue = Queue.objects.create(
                name=unique(queue_name), email_address=address, owner=owner
            )
            mailbox = Mailbox.objects.filter(queue=queue).first() or Mailbox.objects.create(
                queue=queue, email_address=address
            )
        else:
            user = make_person(email=address)
            mailbox = Mailbox.objects.filter(user=user).first() or Mailbox.objects.create(
                user=user, email_address=address
            )
        for name, value in {
            "profile": profile,
            "email_address": address,
            "username": address,
            "password": "secret",
            "approval_status": Mailbox.ApprovalStatus.APPROVED,
            "approved_email_address": address,
            "tracking_option": tracking_option,
            **extra,
        }.items():
            setattr(mailbox, name, value)
        mailbox.save()
        return Mailbox.objects.select_related("profile", "user", "queue").get(pk=mailbox.pk)

    return make


# Contacts, accounts and tracking folders by the one factory module, with what these tests
# expect of them (an address; an owner on server-side sync).
@pytest.fixture
def make_contact(db) -> Callable[..., Contact]:
    def make(email: str, **extra) -> Contact:
        owner = extra.pop("owner", None) or make_person()
        return factories.make_contact(
            owner, first_name="Carl", last_name="Contact", email_address1=email, **extra
        )

    return make


@pytest.fixture
def make_account(db) -> Callable[..., Account]:
    def make(email: str, **extra) -> Account:
        owner = extra.pop("owner", None) or make_person()
        return factories.make_account(owner, name=unique("Acme"), email_address=email)

    return make


@pytest.fixture
def make_crm_email(db) -> Callable[..., Email]:
    """An outgoing CRM email (already sent), to be answered."""

    def make(mailbox: Mailbox, *, to: str, subject: str = "Quote", **extra) -> Email:
        email = Email.objects.create(
            owner_user=mailbox.user,
            owner_queue=mailbox.queue,
            mailbox=mailbox,
            direction=Email.Direction.OUTGOING,
            status=extra.pop("status", Email.Status.SENT),
            subject=subject,
            from_address=mailbox.email_address,
            **extra,
        )
        ActivityParty.objects.create(
            email=email,
            role=ActivityParty.Role.FROM,
            address=mailbox.email_address,
            user=mailbox.user,
        )
        ActivityParty.objects.create(email=email, role=ActivityParty.Role.TO, address=to)
        return email

    return make


@pytest.fixture
def make_tracking_folder(db) -> Callable[..., MailboxTrackingFolder]:
    def make(mailbox: Mailbox, folder: str, regarding) -> MailboxTrackingFolder:
        return factories.make_tracking_folder(
            mailbox=mailbox,
            exchange_folder_id=folder,
            exchange_folder_name=folder,
            regarding_content_type=ContentType.objects.get_for_model(regarding),
            regarding_object_id=regarding.pk,
        )

    return make
