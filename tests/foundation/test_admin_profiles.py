"""Profile screens keep the rules of the profile model."""

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from profiles.models import EmailServerProfile
from profiles.saving import create_profile, save_profile
from profiles.validation import rule_errors
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


def test_code_cannot_save_an_active_profile_that_breaks_its_type_s_rules(db: None) -> None:
    """`save_profile`, the one way code (the demo seed, benches, the tests' factory) saves
    a profile: an active one must keep its server type's rules, an inactive one may not."""
    broken = EmailServerProfile(
        name="No URL", server_type=EmailServerProfile.ServerType.EXCHANGE, is_active=True
    )
    with pytest.raises(ValidationError) as refused:
        save_profile(broken)
    assert "incoming_server_location" in refused.value.message_dict
    assert not EmailServerProfile.objects.filter(name="No URL").exists()
    broken.is_active = False
    assert save_profile(broken).pk is not None  # Activate checks it later
    with pytest.raises(ValidationError):
        factories.make_profile(server_type="microsoft_365", oauth_tenant_id="")
    with pytest.raises(ValidationError):
        create_profile(name="Autodiscover", incoming_use_autodiscover=True)


@pytest.mark.parametrize("server_type", EmailServerProfile.ServerType.values)
def test_the_factory_keeps_every_type_s_rules_with_autodiscover_too(
    server_type: str, db: None
) -> None:
    for fields in ({}, {"incoming_use_autodiscover": True}):
        profile = factories.make_profile(server_type=server_type, **fields)
        assert rule_errors(profile) == {}, fields


def test_the_dashboard_names_an_active_profile_that_breaks_its_type_s_rules(
    staff_client: Client,
) -> None:
    broken = factories.make_profile(name="Tenantless", server_type="microsoft_365")
    factories.make_profile(name="Fine", server_type="microsoft_365")
    EmailServerProfile.objects.filter(pk=broken.pk).update(oauth_tenant_id="")  # not by code

    page = staff_client.get(reverse("admin:mailboxes_health_dashboard")).content.decode()

    panel = page[page.index('id="broken-profiles"') : page.index('id="by-status"')]
    change = reverse("admin:profiles_emailserverprofile_change", args=[broken.pk])
    assert f'<a href="{change}">Tenantless</a>' in panel
    assert "Enter the Directory (tenant) ID" in panel
    assert ">Fine</a>" not in panel
    EmailServerProfile.objects.filter(pk=broken.pk).update(is_active=False)
    page = staff_client.get(reverse("admin:mailboxes_health_dashboard")).content.decode()
    assert "break their server type's rules" not in page


def test_the_database_check_warns_of_an_active_profile_that_breaks_its_rules(db: None) -> None:
    broken = factories.make_profile(name="Tenantless", server_type="microsoft_365")
    factories.make_profile(name="Fine")
    assert [m for m in run_checks(tags=["database"], databases=["default"]) if m.obj] == []
    EmailServerProfile.objects.filter(pk=broken.pk).update(oauth_tenant_id="")

    found = [m for m in run_checks(tags=["database"], databases=["default"]) if m.obj]

    assert [(m.id, m.obj) for m in found] == [("profiles.W001", broken)]
    assert "“Tenantless” breaks its server type's rules: Enter the Directory" in found[0].msg
    assert run_checks(tags=["database"]) == []  # only when the database checks are asked for
