"""The demo data of the README's run command."""

import pytest
from django.core.management import call_command

from activities.models import Account, Appointment, Contact
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from users.models import User

pytestmark = pytest.mark.django_db

EWS_URL = "http://127.0.0.1:8765/EWS/Exchange.asmx"


def test_demo_mailboxes_are_approved_with_credentials_on_the_emulator_profile() -> None:
    # when the demo data is created
    call_command("seed_demo", ews_url=EWS_URL, mailbox_password="secret")

    # then every demo mailbox that syncs is approved, on the default profile, with credentials
    profile = EmailServerProfile.objects.get(is_default=True)
    assert profile.incoming_server_location == EWS_URL
    synced = Mailbox.objects.filter(email_address__in=["alice@example.com", "bob@example.com"])
    synced = synced | Mailbox.objects.filter(queue__name="Support")
    assert synced.count() == 3
    for mailbox in synced:
        assert mailbox.approval_status == Mailbox.ApprovalStatus.APPROVED
        assert mailbox.profile == profile
        assert mailbox.username == mailbox.email_address
        assert mailbox.password == "secret"
    assert User.objects.get(username="admin").check_password("demo")


def test_running_the_demo_seed_twice_changes_nothing() -> None:
    # given the demo data
    call_command("seed_demo", ews_url=EWS_URL)
    counts = (User.objects.count(), Account.objects.count(), Contact.objects.count())
    appointments = Appointment.objects.count()

    # when it runs again (the demo command runs it at every start)
    call_command("seed_demo", ews_url=EWS_URL)

    # then no record is duplicated
    assert (User.objects.count(), Account.objects.count(), Contact.objects.count()) == counts
    assert Appointment.objects.count() == appointments
    assert counts[1] == 2
