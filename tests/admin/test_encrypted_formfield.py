"""An encrypted field's default form field is write-only, whatever form is built from it."""

import pytest
from django import forms
from django.contrib import admin
from django.test import RequestFactory

from crmsync.forms import WriteOnlyPasswordField, WriteOnlyPasswordInput
from mailboxes.models import Mailbox
from profiles.models import EmailServerProfile
from tests import factories

pytestmark = pytest.mark.django_db

SECRET = "plain-secret-value"


def test_a_plain_model_form_renders_an_empty_password_input() -> None:
    mailbox = factories.make_mailbox(password=SECRET)
    form_class = forms.modelform_factory(Mailbox, fields=["email_address", "password"])

    form = form_class(instance=mailbox)

    assert isinstance(form.fields["password"], WriteOnlyPasswordField)
    html = str(form)
    assert SECRET not in html
    assert "<textarea" not in html
    assert 'type="password"' in html


def test_the_admin_text_widget_override_does_not_apply_to_an_encrypted_field() -> None:
    # given the admin, which gives every TextField its own textarea widget
    profile = factories.make_profile(incoming_password=SECRET)
    model_admin = admin.site._registry[EmailServerProfile]
    field = EmailServerProfile._meta.get_field("incoming_password")

    form_field = model_admin.formfield_for_dbfield(field, request=RequestFactory().get("/"))

    assert isinstance(form_field, WriteOnlyPasswordField)
    assert isinstance(form_field.widget, WriteOnlyPasswordInput)
    assert SECRET not in form_field.widget.render("incoming_password", profile.incoming_password)


def test_a_blank_submit_of_a_plain_model_form_keeps_the_stored_password() -> None:
    mailbox = factories.make_mailbox(password=SECRET)
    form_class = forms.modelform_factory(Mailbox, fields=["email_address", "password"])

    form = form_class({"email_address": "new@example.com", "password": ""}, instance=mailbox)
    assert form.is_valid(), form.errors
    form.save()

    mailbox.refresh_from_db()
    assert (mailbox.email_address, mailbox.password) == ("new@example.com", SECRET)


def test_a_typed_password_replaces_the_stored_one() -> None:
    mailbox = factories.make_mailbox(password=SECRET)
    form_class = forms.modelform_factory(Mailbox, fields=["email_address", "password"])

    form = form_class({"email_address": mailbox.email_address, "password": "new"}, instance=mailbox)
    assert form.is_valid(), form.errors
    form.save()

    mailbox.refresh_from_db()
    assert mailbox.password == "new"
