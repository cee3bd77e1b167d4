from django import forms

from crmsync.forms import ClearStoredPasswordField, WriteOnlyPasswordField, WriteOnlyPasswordsMixin
from profiles.models import EmailServerProfile


class EmailServerProfileAdminForm(WriteOnlyPasswordsMixin, forms.ModelForm):
    incoming_password = WriteOnlyPasswordField(
        help_text="Of the service account, when credentials come from the profile."
    )
    clear_incoming_password = ClearStoredPasswordField()
    outgoing_password = WriteOnlyPasswordField(
        help_text="Of the service account, when credentials come from the profile."
    )
    clear_outgoing_password = ClearStoredPasswordField()

    class Meta:
        model = EmailServerProfile
        # The admin builds the form from its fieldsets; these are the fields defined here.
        fields = ("incoming_password", "outgoing_password")
