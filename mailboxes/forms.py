import copy
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from crmsync.forms import ClearStoredPasswordField, WriteOnlyPasswordField, WriteOnlyPasswordsMixin
from mailboxes.models import (
    ExchangeFolderListing,
    ItemType,
    ItemTypeSyncOptions,
    Mailbox,
    MailboxTrackingFolder,
)
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
    # What switching off does, said before it is saved (it moves no record: no confirmation).
    SWITCHED_OFF = {
        "is_enabled": "Off: nothing of this type is synchronized any more; nothing is deleted.",
        "crm_to_exchange": "Off: CRM changes no longer reach Exchange; nothing is deleted.",
        "exchange_to_crm": "Off: Exchange changes no longer reach the CRM; nothing is deleted.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, text in self.SWITCHED_OFF.items():
            if name in self.fields and not self.fields[name].help_text:
                self.fields[name].help_text = text

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


class CommaSeparatedField(forms.CharField):
    """A list of short strings, typed as "Red, Customers, VIP"."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [item.strip() for item in text.split(",") if item.strip()]


def pick_listed_contact_folders(form: forms.ModelForm) -> None:
    """The contact options' folders (`contact_import_folders`) picked from the mailbox's
    contact folders as a worker last listed them (`ExchangeFolderListing.contact_folders`),
    as a tracking folder is picked; typed as ids until they are listed. A chosen folder no
    longer listed stays offered, so that saving the form keeps it."""
    options: ItemTypeSyncOptions = form.instance
    if (
        options.pk is None
        or options.item_type != ItemType.CONTACT
        or "contact_import_folders" not in form.fields
    ):
        return
    listing = ExchangeFolderListing.objects.filter(mailbox_id=options.mailbox_id).first()
    listed = (
        listing.contact_folders if listing and isinstance(listing.contact_folders, list) else []
    )
    choices = [
        (str(folder["id"]), str(folder.get("path") or folder.get("name") or folder["id"]))
        for folder in listed
        if isinstance(folder, dict) and folder.get("id")
    ]
    if not choices:
        form.fields["contact_import_folders"].help_text = (
            "Exchange folder ids, separated by commas, when importing selected folders; "
            "once the mailbox's folders are listed (“Refresh folder list”), they are "
            "picked from the list."
        )
        return
    offered = {value for value, _ in choices}
    chosen = (
        options.contact_import_folders if isinstance(options.contact_import_folders, list) else []
    )
    choices += [(str(f), f"{f} (not in the last list)") for f in chosen if str(f) not in offered]
    form.fields["contact_import_folders"] = forms.MultipleChoiceField(
        choices=choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Contact folders",
        help_text="Imported when importing selected folders; as last listed from Exchange.",
    )


# The options that apply to one item type only; the others apply to every type.
ONLY_FOR: dict[str, str] = {
    "sync_from": ItemType.APPOINTMENT,
    "contact_import_scope": ItemType.CONTACT,
    "contact_import_folders": ItemType.CONTACT,
    "contact_export_scope": ItemType.CONTACT,
    "contact_export_categories": ItemType.CONTACT,
}


class ItemTypeSyncOptionsAdminForm(SyncOptionsChangeMixin, forms.ModelForm):
    """One type's options in the admin: lists typed as "a, b, c", and the options of other
    types left out of a saved row (hidden, their values kept)."""

    categories = CommaSeparatedField(
        required=False,
        max_length=2000,
        help_text="Stamped on items written to Exchange, separated by commas.",
    )
    contact_import_folders = CommaSeparatedField(
        required=False,
        max_length=5000,
        label="Contact folders (ids)",
    )
    contact_export_categories = CommaSeparatedField(
        required=False,
        max_length=2000,
        label="Exported categories or groups",
        help_text="Separated by commas, when exporting selected ones.",
    )

    class Meta:
        model = ItemTypeSyncOptions
        # Every editable field: the admin chooses what to show through its fieldsets.
        exclude: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        item_type = self.instance.item_type if self.instance.pk else None
        if item_type is None:
            return  # a new row: its type is chosen in the form
        pick_listed_contact_folders(self)
        for name, only in ONLY_FOR.items():
            if name in self.fields and only != item_type:
                self.fields[name].widget = forms.HiddenInput()


class TrackingFolderAdminForm(forms.ModelForm):
    """A tracking folder in the admin: picked from the folders under the mailbox's Inbox as a
    worker last listed them (`listed`, set per mailbox by the inline), its name taken from
    the list when left empty; typed as an id until the folders are listed. A folder tracked
    already and no longer listed stays offered, so that saving keeps it."""

    listed: list[dict[str, str]] = []

    class Meta:
        model = MailboxTrackingFolder
        fields = ("exchange_folder_name", "exchange_folder_id")
        labels = {"exchange_folder_name": "Folder name", "exchange_folder_id": "Exchange folder"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by_id = {f["id"]: f for f in self.listed if isinstance(f, dict) and f.get("id")}
        if not self.by_id:
            return
        choices = [("", "— choose a folder —")]
        choices += [(folder_id, f.get("path") or folder_id) for folder_id, f in self.by_id.items()]
        current = self.instance.exchange_folder_id
        if current and current not in self.by_id:
            choices.append(
                (current, f"{self.instance.exchange_folder_name or current} (not listed)")
            )
        self.fields["exchange_folder_id"] = forms.ChoiceField(
            choices=choices,
            label="Exchange folder",
            help_text="Folders under the Inbox, as last listed from Exchange.",
        )
        self.fields["exchange_folder_name"].required = False
        self.fields["exchange_folder_name"].help_text = "The listed path when left empty."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        listed = self.by_id.get(cleaned.get("exchange_folder_id") or "")
        if listed is not None and not cleaned.get("exchange_folder_name"):
            name = str(listed.get("path") or listed.get("name") or listed["id"])[:255]
            cleaned["exchange_folder_name"] = name
            self.instance.exchange_folder_name = name
        return cleaned
