"""The one rule (`mailboxes.sync.eligibility`) and each path that must obey it, called
directly: the claims, the cycle's channels, test & enable, the folder listing, the push
listener, `manage.py sync_mailbox`, autodiscover."""

import itertools
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from crmsync.choices import DeliveryMethod, OutgoingDeliveryMethod
from mailboxes.connectors import PermanentSyncError
from mailboxes.connectors.ews import account_for
from mailboxes.connectors.settings import check_autodiscover_domain
from mailboxes.folder_listing import refresh_folder_listing
from mailboxes.models import ExchangeFolderListing, Mailbox
from mailboxes.sync import eligibility, scheduling
from mailboxes.sync import testing as enabling
from mailboxes.sync.cycle import channels_wanted, run_cycle
from mailboxes.sync.listener import listen_to_mailbox, listened_mailboxes
from profiles.models import EmailServerProfile
from tests import factories
from tests.factories import make_mailbox, make_profile
from tests.sync.helpers import act_mailbox, exchange_profile

pytestmark = pytest.mark.django_db

APPROVED = Mailbox.ApprovalStatus.APPROVED
PENDING = Mailbox.ApprovalStatus.PENDING
# Nothing listens there: a path that tried to connect would fail, not be refused.
CLOSED_PORT_URL = "http://127.0.0.1:9/EWS/Exchange.asmx"


def changed_address(mailbox: Mailbox, address: str = "ceo@example.com") -> Mailbox:
    """The user typed another address: the approval no longer covers it."""
    mailbox.email_address = address
    eligibility.address_changed(mailbox)
    mailbox.save()
    return mailbox


def test_the_filter_and_the_predicate_agree_on_every_combination() -> None:
    # given a mailbox for each combination of the rule's four parts
    profiles = {"none": None, "inactive": make_profile(is_active=False), "active": make_profile()}
    expected: dict[int, bool] = {}
    for active, approval, address, profile in itertools.product(
        (True, False),
        Mailbox.ApprovalStatus.values,
        ("approved", "changed", "never approved"),
        profiles,
    ):
        mailbox = make_mailbox(is_active=active, approval_status=approval, profile=None)
        mailbox.approved_email_address = {
            "approved": mailbox.email_address,
            "changed": "before@example.com",
            "never approved": "",
        }[address]
        mailbox.profile = profiles[profile]
        mailbox.save()
        expected[mailbox.pk] = (
            active and approval == APPROVED and address == "approved" and profile == "active"
        )

    # then the filter selects exactly the mailboxes the predicate allows, and those only
    allowed = set(Mailbox.objects.filter(eligibility.may_connect_q()).values_list("pk", flat=True))
    predicate = {
        m.pk for m in Mailbox.objects.select_related("profile") if eligibility.may_connect(m)
    }
    assert allowed == predicate == {pk for pk, ok in expected.items() if ok}
    assert len(allowed) == 1


def test_the_refusal_names_the_first_unmet_part() -> None:
    mailbox = act_mailbox(exchange_profile())
    assert eligibility.refusal(mailbox) == ""

    changed_address(mailbox)
    assert eligibility.refusal(mailbox) == (
        "its email address waits for an administrator's approval."
    )
    eligibility.approve(mailbox)
    assert eligibility.may_connect(mailbox)
    mailbox.is_active = False
    assert eligibility.refusal(mailbox) == "the mailbox is turned off."


def test_a_new_address_needs_a_new_approval_and_a_rejected_mailbox_stays_rejected() -> None:
    mailbox = act_mailbox(exchange_profile())

    mailbox.email_address = mailbox.email_address.upper()
    eligibility.address_changed(mailbox)
    assert mailbox.approval_status == PENDING

    rejected = act_mailbox(exchange_profile(), approval_status=Mailbox.ApprovalStatus.REJECTED)
    rejected.email_address = "other@example.com"
    eligibility.address_changed(rejected)
    assert rejected.approval_status == Mailbox.ApprovalStatus.REJECTED


def test_a_changed_address_is_never_due_nor_claimed() -> None:
    mailbox = changed_address(act_mailbox(exchange_profile()))
    # even an approval status set back by hand does not cover the new address
    Mailbox.objects.filter(pk=mailbox.pk).update(approval_status=APPROVED)

    assert not Mailbox.objects.filter(scheduling.due_mailboxes(), pk=mailbox.pk).exists()
    assert scheduling.claim_due_mailboxes() == []
    assert scheduling.claim_mailbox(mailbox.pk, respect_limit=False) is None
    result = run_cycle(mailbox.pk, respect_limit=False)
    assert (result.ran, result.refused) == (False, True)
    assert result.reason == "its email address waits for an administrator's approval."


def test_a_mailbox_rejected_after_dispatch_is_not_taken_over_by_the_task() -> None:
    mailbox = act_mailbox(exchange_profile(CLOSED_PORT_URL))
    (claim,) = scheduling.claim_due_mailboxes()
    Mailbox.objects.filter(pk=mailbox.pk).update(approval_status=Mailbox.ApprovalStatus.REJECTED)

    assert scheduling.take_over_claim(mailbox.pk, claim.token) is None
    result = run_cycle(mailbox.pk, queued_token=claim.token)
    assert (result.ran, result.refused) == (False, True)
    mailbox.refresh_from_db()
    assert mailbox.last_sync_started_at is None


def test_no_channel_runs_for_a_mailbox_that_may_not_connect() -> None:
    mailbox = act_mailbox(
        exchange_profile(),
        incoming_delivery_method=DeliveryMethod.SERVER_SIDE_SYNC,
        outgoing_delivery_method=OutgoingDeliveryMethod.SERVER_SIDE_SYNC,
    )
    now = mailbox.created_at
    assert channels_wanted(mailbox, now) == ["incoming", "outgoing", "act"]

    changed_address(mailbox)
    assert channels_wanted(mailbox, now) == []


def test_test_and_enable_refuses_a_pending_address_and_turns_nothing_on() -> None:
    mailbox = changed_address(
        act_mailbox(exchange_profile(CLOSED_PORT_URL), act_status=Mailbox.ChannelStatus.FAILURE)
    )
    Mailbox.objects.filter(pk=mailbox.pk).update(is_active=False)
    mailbox.refresh_from_db()

    result = enabling.test_and_enable(mailbox)

    assert (result.status, result.message) == ("refused", "Not tested: the mailbox is turned off.")
    mailbox.refresh_from_db()
    assert (mailbox.is_active, mailbox.approval_status) == (False, PENDING)
    assert (mailbox.test_status, mailbox.act_status) == ("not_run", "failure")
    assert mailbox.profile is not None
    enabling.test_profile_mailboxes(mailbox.profile)
    mailbox.profile.refresh_from_db()
    assert mailbox.profile.last_test_message == (
        f"0 of 0 mailboxes passed. 1 not tested: {mailbox.email_address} "
        "(the mailbox is turned off)."
    )
    mailbox.refresh_from_db()
    assert mailbox.test_status == "not_run"


def test_the_folder_listing_says_why_it_did_not_list() -> None:
    mailbox = changed_address(act_mailbox(exchange_profile(CLOSED_PORT_URL)))

    assert refresh_folder_listing(mailbox.pk) == "failed"

    listing = ExchangeFolderListing.objects.get(mailbox=mailbox)
    assert listing.error_text == (
        "Folders not listed: its email address waits for an administrator's approval."
    )


def test_the_listener_leaves_a_mailbox_that_may_not_connect_alone() -> None:
    allowed = act_mailbox(exchange_profile(CLOSED_PORT_URL))
    refused = changed_address(act_mailbox(exchange_profile(CLOSED_PORT_URL)))
    assert listened_mailboxes() == [allowed.pk]

    changes: list[int] = []
    thread = threading.Thread(
        target=listen_to_mailbox, args=(refused.pk, threading.Event(), changes.append)
    )
    thread.start()
    # it returns at once; a listener that tried the closed port would retry with back-off
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert changes == []


def test_the_sync_mailbox_command_says_why_it_refuses() -> None:
    mailbox = act_mailbox(exchange_profile(CLOSED_PORT_URL), approval_status=PENDING)

    with pytest.raises(CommandError) as refused:
        call_command("sync_mailbox", mailbox.email_address)

    assert str(refused.value) == (
        "Not synced: its email address waits for an administrator's approval."
    )


# --- Autodiscover --------------------------------------------------------------------------


def autodiscover_profile(**fields: object) -> EmailServerProfile:
    return exchange_profile(
        "",
        incoming_use_autodiscover=True,
        incoming_credential_retrieval="profile",
        incoming_use_impersonation=True,
        incoming_username="svc@corp.example",
        incoming_password="svc-secret",
        **fields,
    )


def test_autodiscover_never_runs_for_a_domain_the_profile_does_not_name() -> None:
    profile = autodiscover_profile(autodiscover_domain="corp.example")
    outside = act_mailbox(profile, email="carol@attacker.example")

    # refused before any request: nothing listens for attacker.example here
    with pytest.raises(PermanentSyncError) as refused:
        account_for(outside)

    assert refused.value.code == "autodiscover_domain_mismatch"
    assert refused.value.message == (
        "Autodiscover runs only for addresses in corp.example; carol@attacker.example is not one."
    )
    check_autodiscover_domain("Ann@Corp.Example", " corp.example ")  # the profile's own


def test_autodiscover_needs_the_profiles_domain() -> None:
    # No form or code saves it active without a domain: as the database may hold one.
    profile = factories.make_broken_profile(
        incoming_server_location="",
        incoming_use_autodiscover=True,
        autodiscover_domain="",
        incoming_credential_retrieval="profile",
        incoming_use_impersonation=True,
        incoming_username="svc@corp.example",
        incoming_password="svc-secret",
    )
    mailbox = act_mailbox(profile, email="ann@corp.example")

    with pytest.raises(PermanentSyncError) as refused:
        account_for(mailbox)
    assert refused.value.code == "no_autodiscover_domain"
    with pytest.raises(ValidationError) as invalid:
        profile.full_clean()
    assert "autodiscover_domain" in invalid.value.message_dict
