"""Every admin page renders for staff and refuses everyone else."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import reverse

from activities.models import Appointment, Contact, Task
from mailboxes.models import Mailbox
from users.models import User

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODEL_IDS = [model._meta.label for model, _ in REGISTERED]


def admin_url(model: type[Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def first_row(model: type[Model]) -> Model:
    row = model._default_manager.order_by("pk").first()
    assert row is not None, f"the every_model fixture makes no {model._meta.label}"
    return row


@pytest.mark.parametrize(
    "app_label", ["users", "profiles", "mailboxes", "activities"], ids=lambda label: label
)
def test_every_model_of_the_project_has_an_admin(app_label: str) -> None:
    # given the models of a project app
    models = apps.get_app_config(app_label).get_models()

    # then each of them is registered with the admin
    missing = [model._meta.label for model in models if model not in admin.site._registry]
    assert missing == []


def test_admin_index_renders_for_staff(staff_client: Client) -> None:
    response = staff_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert b"Mailboxes" in response.content


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_changelist_renders_for_staff(
    staff_client: Client, every_model: None, model: type[Model], model_admin: admin.ModelAdmin
) -> None:
    response = staff_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_changelist_search_runs_for_staff(
    staff_client: Client, every_model: None, model: type[Model], model_admin: admin.ModelAdmin
) -> None:
    # given a search on every search field (a wrong lookup only fails when a search runs)
    url = admin_url(model, "changelist") + "?q=example"

    response = staff_client.get(url)

    assert response.status_code == 200


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_change_page_renders_for_staff(
    staff_client: Client, every_model: None, model: type[Model], model_admin: admin.ModelAdmin
) -> None:
    row = first_row(model)

    response = staff_client.get(admin_url(model, "change", row.pk))

    assert response.status_code == 200
    assert response.context["original"] == row


# What Django makes of field names, which a person should not read (issue 14: "CRM",
# "appointments, contacts and tasks", durations in seconds).
ENGINEERS_WORDS = re.compile(r"\bCrm\b|\bcrm\b|\bAct\b|\bact\b|\w ms\b(?!\))")


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_the_list_and_the_change_page_speak_plainly(
    staff_client: Client, every_model: None, model: type[Model], model_admin: admin.ModelAdmin
) -> None:
    said = set()
    for url in (admin_url(model, "changelist"), admin_url(model, "change", first_row(model).pk)):
        page = staff_client.get(url).content.decode()
        # the words a person reads: headers and labels, not the data, the markup or a script
        page = re.sub(r"<(script|style|textarea|pre)\b.*?</\1>", " ", page, flags=re.S)
        for label in re.findall(r"<(?:th|label|h2)\b[^>]*>(.*?)</(?:th|label|h2)>", page, re.S):
            text = re.sub(r"<[^>]+>|\s+", " ", label).strip()
            if ENGINEERS_WORDS.search(text):
                said.add(text)

    assert said == set()


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_add_page_renders_for_staff_where_adding_is_allowed(
    staff_client: Client,
    superuser: User,
    every_model: None,
    model: type[Model],
    model_admin: admin.ModelAdmin,
) -> None:
    # given whether the admin lets people add this model (rows the sync engine writes: no)
    request = RequestFactory().get("/")
    request.user = superuser
    may_add = model_admin.has_add_permission(request)

    response = staff_client.get(admin_url(model, "add"))

    assert response.status_code == (200 if may_add else 403)


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
@pytest.mark.parametrize("page", ["changelist", "add", "change", "delete", "history"])
def test_non_staff_user_is_sent_to_the_admin_login(
    non_staff_client: Client,
    every_model: None,
    model: type[Model],
    model_admin: admin.ModelAdmin,
    page: str,
) -> None:
    args = () if page in ("changelist", "add") else (first_row(model).pk,)
    url = admin_url(model, page, *args)

    response = non_staff_client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_non_staff_user_cannot_run_a_mailbox_action(
    non_staff_client: Client, every_model: None
) -> None:
    # given a pending mailbox
    mailbox = Mailbox.objects.order_by("pk").first()
    assert mailbox is not None

    # when a non-staff user posts the approve action
    response = non_staff_client.post(
        admin_url(Mailbox, "changelist"),
        {"action": "approve_mailboxes", "_selected_action": [mailbox.pk]},
    )

    # then it is sent to the login page and nothing changed
    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.approval_status == Mailbox.ApprovalStatus.PENDING


@pytest.mark.parametrize("model", [Contact, Appointment, Task], ids=lambda m: m.__name__)
def test_the_admin_of_a_synced_record_shows_every_content_field(
    model: type[Contact | Appointment | Task],
) -> None:
    fieldsets = admin.site._registry[model].fieldsets or ()

    shown = {
        name
        for _, options in fieldsets
        for entry in options["fields"]
        for name in (entry if isinstance(entry, tuple) else (entry,))
    }

    assert sorted(set(model.CONTENT_FIELDS) - shown) == []
