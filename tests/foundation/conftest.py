from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.authtoken.models import Token

from mailboxes.history import record_sync_run
from mailboxes.models import ExchangeFolderListing, GraphSubscription, ProcessedMessage, SyncRun
from tests import factories


@pytest.fixture
def every_model(db: None) -> None:
    """At least one row of every model the admin shows, linked the way the sync links them."""
    profile = factories.make_profile(
        incoming_password="profile-incoming-secret", outgoing_password="profile-outgoing-secret"
    )
    mailbox = factories.make_mailbox(profile=profile, password="mailbox-secret")
    queue = factories.make_queue()
    factories.make_mailbox(queue=queue, profile=profile)
    account = factories.make_account(owner_queue=queue)
    contact = factories.make_contact(account=account)
    factories.make_tracking_folder(mailbox=mailbox, regarding=account)
    email = factories.make_email(mailbox=mailbox, owner_user=mailbox.user)
    factories.make_party(email=email, contact=contact)
    factories.make_attachment(email=email)
    appointment = factories.make_appointment(owner_user=mailbox.user)
    factories.make_party(appointment=appointment, role="organizer")
    factories.make_attachment(appointment=appointment)
    task = factories.make_task(owner_user=mailbox.user)
    factories.make_attachment(task=task)
    factories.make_mapping(mailbox=mailbox, crm_object=appointment)
    factories.make_mapping(  # a manual conflict awaiting a decision (PendingConflict)
        mailbox=mailbox,
        crm_object=task,
        object_type="task",
        user_decision="pending",
        crm_snapshot={"subject": "Call back (CRM)"},
        exchange_snapshot={"subject": "Call back (Exchange)"},
    )
    factories.make_folder_state(mailbox=mailbox)
    factories.make_alert(mailbox=mailbox)
    factories.make_alert(profile=profile, severity="warning")
    record_sync_run(mailbox, timezone.now(), 1200, 5, 1, SyncRun.Outcome.SUCCESS)
    Group.objects.create(name="Sync administrators")
    assert mailbox.user is not None
    Token.objects.create(user=mailbox.user)
    ProcessedMessage.objects.create(
        mailbox=mailbox,
        protocol="ews",
        folder_id="inbox",
        uid="AAMkMessage1",
        email=email,
        outcome=ProcessedMessage.Outcome.FILED,
    )
    GraphSubscription.objects.create(
        mailbox=mailbox,
        key="inbox",
        resource=f"users/{mailbox.email_address}/mailFolders('inbox')/messages",
        subscription_id="7f1c0e4a-0000-4000-8000-000000000001",
        client_state="graph-client-state-secret",
        notification_url="https://crm.example.com/graph/notifications/",
        expires_at=timezone.now() + timedelta(days=3),
    )
    ExchangeFolderListing.objects.create(
        mailbox=mailbox,
        folders=[{"id": "AAMkFolder1", "name": "Projects", "path": "Projects"}],
        listed_at=timezone.now(),
    )
    AccessAttempt.objects.create(
        username="mallory",
        ip_address="203.0.113.9",
        user_agent="curl/8",
        get_data="",
        post_data="username=mallory&password=********************",
        http_accept="*/*",
        path_info="/accounts/login/",
        failures_since_start=3,
    )
