"""A null character in a form, the admin's search or a JSON typed into the admin is a 400
or a form error naming the field, never a 500 (PostgreSQL refuses NUL; CI runs on it)."""

from urllib.parse import quote

from django.test import Client
from django.urls import reverse

from activities.models import Contact
from mailboxes.models import Mailbox
from tests import factories
from tests.foundation.html_forms import form_data

NUL = "\x00"


def contact_form(client: Client) -> dict[str, list[str]]:
    """The admin's "add contact" form as a browser sends it, filled in validly."""
    page = client.get(reverse("admin:activities_contact_add"))
    data = form_data(page.content.decode(), "contact_form")
    owner = factories.make_user()
    data.update({"last_name": ["Lovelace"], "owner_user": [str(owner.pk)]})
    return data


def test_admin_form_saves_the_valid_contact(staff_client: Client) -> None:
    # The counterpart of the tests below: the same form without a NUL is saved.
    response = staff_client.post(
        reverse("admin:activities_contact_add"), contact_form(staff_client)
    )

    assert response.status_code == 302
    assert Contact.objects.get().last_name == "Lovelace"


def test_a_nul_escaped_in_a_json_field_is_a_form_error_on_that_field(
    staff_client: Client,
) -> None:
    data = contact_form(staff_client)
    data["phone_numbers"] = ['{"business": "+1 555\\u0000 0100"}']

    response = staff_client.post(reverse("admin:activities_contact_add"), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["phone_numbers"]
    assert "Null characters are not allowed (at business)." in errors["phone_numbers"]
    assert not Contact.objects.exists()


def test_a_nul_in_a_posted_admin_field_is_a_400_naming_it(staff_client: Client) -> None:
    data = contact_form(staff_client)
    data["first_name"] = ["Ad" + NUL + "a"]

    response = staff_client.post(reverse("admin:activities_contact_add"), data)

    assert response.status_code == 400
    assert "“first_name” holds a null character" in response.content.decode()
    assert not Contact.objects.exists()


def test_a_nul_in_the_admin_search_is_a_400(staff_client: Client) -> None:
    url = reverse("admin:activities_contact_changelist")

    response = staff_client.get(f"{url}?q={quote('Ada' + NUL)}")

    assert response.status_code == 400
    assert "“q” holds a null character" in response.content.decode()


def test_a_nul_in_the_login_form_is_a_400(client: Client, db: None) -> None:
    response = client.post(reverse("login"), {"username": "ad" + NUL + "min", "password": "x"})

    assert response.status_code == 400


def test_a_nul_in_the_self_service_settings_is_a_400(db: None) -> None:
    user = factories.make_user()
    mailbox = factories.make_mailbox(user=user)
    client = Client()
    client.force_login(user)

    response = client.post(reverse("mailboxes:mailbox", args=[mailbox.pk]), {"name": "Mine" + NUL})

    assert response.status_code == 400
    assert Mailbox.objects.get(pk=mailbox.pk).name == mailbox.name
