"""Profile screens keep the rules of the profile model."""

import pytest
from django.test import Client
from django.urls import reverse

from profiles.models import EmailServerProfile
from tests import factories
from tests.foundation.html_forms import form_data


def test_second_default_profile_is_refused_with_a_message(staff_client: Client, db: None) -> None:
    # given a default profile and another one
    factories.make_profile(name="Default", is_default=True)
    other = factories.make_profile(name="Other")
    url = reverse("admin:profiles_emailserverprofile_change", args=[other.pk])
    data = form_data(staff_client.get(url).content.decode(), "emailserverprofile_form")
    data["is_default"] = ["on"]

    response = staff_client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Another profile is already the default profile; clear its flag first."
    ]
    assert list(
        EmailServerProfile.objects.filter(is_default=True).values_list("name", flat=True)
    ) == ["Default"]


def test_profile_list_counts_the_mailboxes_of_each_profile(staff_client: Client, db: None) -> None:
    profile = factories.make_profile()
    factories.make_mailbox(profile=profile)
    factories.make_mailbox(profile=profile)
    factories.make_mailbox()

    response = staff_client.get(reverse("admin:profiles_emailserverprofile_changelist"))

    counted = {row.pk: row.mailbox_total for row in response.context["cl"].result_list}
    assert counted == {profile.pk: 2}


@pytest.mark.parametrize("server_type", EmailServerProfile.ServerType.values)
def test_the_factory_makes_profiles_that_pass_their_type_s_checks(
    server_type: str, db: None
) -> None:
    profile = factories.make_profile(server_type=server_type)
    profile.full_clean()
    exchange_oauth = factories.make_profile(incoming_authentication_protocol="oauth")
    exchange_oauth.full_clean()
