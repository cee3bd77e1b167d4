"""A new user or queue on server-side sync gets a mailbox on the default profile."""

import pytest
from django.test import Client
from django.urls import reverse

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod
from mailboxes.models import ItemTypeSyncOptions, Mailbox
from profiles.models import EmailServerProfile
from tests import factories
from tests.factories import SERVER_SIDE_SYNC
from tests.foundation.html_forms import form_data


@pytest.fixture
def default_profile(db: None) -> EmailServerProfile:
    factories.make_profile(name="Other")
    return factories.make_profile(name="Default", is_default=True)


def test_user_on_server_side_sync_gets_a_mailbox_on_the_default_profile(
    default_profile: EmailServerProfile,
) -> None:
    user = factories.make_user(
        email="ada@example.com",
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
        **SERVER_SIDE_SYNC,
    )

    mailbox = Mailbox.objects.get(user=user)
    assert mailbox.profile == default_profile
    assert mailbox.email_address == "ada@example.com"
    assert mailbox.approval_status == Mailbox.ApprovalStatus.PENDING
    assert mailbox.act_delivery_method == ActDeliveryMethod.SERVER_SIDE_SYNC


def test_automatic_mailbox_has_options_for_the_three_item_types(
    default_profile: EmailServerProfile,
) -> None:
    user = factories.make_user(**SERVER_SIDE_SYNC)

    options = ItemTypeSyncOptions.objects.filter(mailbox__user=user)
    assert sorted(options.values_list("item_type", flat=True)) == ["appointment", "contact", "task"]


def test_queue_on_server_side_sync_gets_a_mailbox_on_the_default_profile(
    default_profile: EmailServerProfile,
) -> None:
    queue = factories.make_queue(email_address="support@example.com", **SERVER_SIDE_SYNC)

    mailbox = Mailbox.objects.get(queue=queue)
    assert mailbox.profile == default_profile
    assert mailbox.email_address == "support@example.com"
    assert mailbox.sync_options.count() == 3


def test_user_with_only_outgoing_server_side_sync_gets_a_mailbox(
    default_profile: EmailServerProfile,
) -> None:
    user = factories.make_user(outgoing_delivery_method=OutgoingDeliveryMethod.SERVER_SIDE_SYNC)

    assert Mailbox.objects.filter(user=user).count() == 1


def test_user_without_server_side_sync_gets_no_mailbox(
    default_profile: EmailServerProfile,
) -> None:
    user = factories.make_user(incoming_delivery_method=DeliveryMethod.FORWARD_MAILBOX)

    assert not Mailbox.objects.filter(user=user).exists()


def test_user_without_an_email_address_gets_no_mailbox(
    default_profile: EmailServerProfile,
) -> None:
    user = factories.make_user(email="", **SERVER_SIDE_SYNC)

    assert not Mailbox.objects.filter(user=user).exists()


def test_queue_without_server_side_sync_gets_no_mailbox(
    default_profile: EmailServerProfile,
) -> None:
    queue = factories.make_queue()

    assert not Mailbox.objects.filter(queue=queue).exists()


def test_without_an_active_default_profile_the_mailbox_has_no_profile(db: None) -> None:
    factories.make_profile(is_default=True, is_active=False)

    user = factories.make_user(**SERVER_SIDE_SYNC)

    assert Mailbox.objects.get(user=user).profile is None


def test_saving_a_user_again_keeps_the_one_mailbox(default_profile: EmailServerProfile) -> None:
    user = factories.make_user(**SERVER_SIDE_SYNC)
    user.first_name = "Ada"

    user.save()

    assert Mailbox.objects.filter(user=user).count() == 1


def test_user_added_in_the_admin_gets_a_mailbox(
    staff_client: Client, default_profile: EmailServerProfile
) -> None:
    # given the admin's add user form, filled in with an address and the default methods
    url = reverse("admin:users_user_add")
    data = form_data(staff_client.get(url).content.decode(), "user_form")
    data.update(
        {
            "username": ["grace"],
            "email": ["grace@example.com"],
            "usable_password": ["false"],
        }
    )

    response = staff_client.post(url, data)

    assert response.status_code == 302
    mailbox = Mailbox.objects.get(user__username="grace")
    assert (mailbox.email_address, mailbox.profile) == ("grace@example.com", default_profile)
