import copy
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from crmsync.forms import ClearStoredPasswordField, WriteOnlyPasswordField, WriteOnlyPasswordsMixin
from mailboxes.models import ItemTypeSyncOptions, Mailbox
from mailboxes.sync import option_changes


class MailboxAdminForm(WriteOnlyPasswordsMixin, forms.ModelForm):
    password = WriteOnlyPasswordField(
        help_text="Used when the profile takes per-mailbox credentials."
    )
    clear_password = ClearStoredPasswordField()

    class Meta:
        model = Mailbox
        # The admin builds the form from its fieldsets; these are the fields defined here.
        fields = ("password",)


class SyncOptionsChangeMixin(forms.ModelForm):
    """One type's options, self-service and admin alike: a change that exports or imports
    records says so and is saved only once confirmed (`mailboxes.sync.option_changes`)."""

    confirm_change = forms.BooleanField(
        required=False,
        label="Save what this change does",
        help_text="Asked when a change exports or imports records; what it does is said above.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.options_before: ItemTypeSyncOptions | None = None
        if self.instance.pk is None:
            return cleaned
        before = (
            ItemTypeSyncOptions.objects.select_related("mailbox")
            .filter(pk=self.instance.pk)
            .first()
        )
        if before is None:
            return cleaned
        after = copy.copy(before)
        names = {f.name for f in ItemTypeSyncOptions._meta.concrete_fields}
        for name, value in cleaned.items():
            if name in names and name not in ("id", "mailbox", "item_type"):
                setattr(after, name, value)
        self.options_before = before
        effects = option_changes.effects(before, after)
        if effects.acts and not cleaned.get("confirm_change"):
            raise ValidationError(
                [*effects.sentences(), "Tick “Save what this change does” to save it."],
                code="confirm_option_change",
            )
        return cleaned

    def save(self, commit: bool = True) -> Any:
        instance = super().save(commit)
        before = getattr(self, "options_before", None)
        if commit and before is not None:
            option_changes.prepare_next_cycle(before, instance)
        return instance


class ItemTypeSyncOptionsAdminForm(SyncOptionsChangeMixin, forms.ModelForm):
    class Meta:
        model = ItemTypeSyncOptions
        # Every editable field: the admin chooses what to show through its fieldsets.
        exclude: tuple[str, ...] = ()
