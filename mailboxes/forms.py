from django import forms

from crmsync.forms import ClearStoredPasswordField, WriteOnlyPasswordField, WriteOnlyPasswordsMixin
from mailboxes.models import Mailbox


class MailboxAdminForm(WriteOnlyPasswordsMixin, forms.ModelForm):
    password = WriteOnlyPasswordField(
        help_text="Used when the profile takes per-mailbox credentials."
    )
    clear_password = ClearStoredPasswordField()

    class Meta:
        model = Mailbox
        # The admin builds the form from its fieldsets; these are the fields defined here.
        fields = ("password",)
