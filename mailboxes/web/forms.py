"""Forms of the self-service pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.forms import BaseModelFormSet, modelformset_factory

from activities.api.visibility import visible_to
from activities.models import Account, Contact, OwnedRecord
from crmsync.choices import DeliveryMethod, OutgoingDeliveryMethod
from crmsync.forms import ClearStoredPasswordField, WriteOnlyPasswordField, WriteOnlyPasswordsMixin
from mailboxes import fields_by_type
from mailboxes.forms import (
    CommaSeparatedField,
    SyncOptionsChangeMixin,
    pick_listed_contact_folders,
)
from mailboxes.models import (
    MAX_TRACKING_FOLDERS,
    ItemType,
    ItemTypeSyncOptions,
    Mailbox,
    MailboxTrackingFolder,
)
from mailboxes.sync.eligibility import address_changed
from users.models import User


def _offered(choices: Any, allowed: set[str], current: str) -> list[tuple[str, str]]:
    """The choices the profile offers, plus the current value so that it still displays."""
    return [(value, label) for value, label in choices if value in allowed or value == current]


class MailboxSettingsForm(WriteOnlyPasswordsMixin, forms.ModelForm):
    """Email address, credentials, delivery methods and tracking of one mailbox.

    Which fields appear depends on the mailbox's profile (`mailboxes/fields_by_type.py`):
    credentials only when it takes per-mailbox credentials, appointments/contacts/tasks only
    on Exchange and Microsoft 365, "process and delete" only on POP3.
    """

    password = WriteOnlyPasswordField(label="Password")
    clear_password = ClearStoredPasswordField()

    class Meta:
        model = Mailbox
        fields = [
            "email_address",
            "username",
            "password",
            "incoming_delivery_method",
            "outgoing_delivery_method",
            "act_delivery_method",
            "send_invitations",
            "tracking_option",
            "process_and_delete",
        ]
        labels = {
            "username": "User name",
            "act_delivery_method": "Appointments, contacts and tasks",
            "tracking_option": "Track incoming email",
        }
        help_texts = {
            "email_address": "Changing it asks an administrator to approve the new address.",
            "username": "The sign-in name of this mailbox on the email server.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mailbox: Mailbox = self.instance
        profile = mailbox.profile
        shown = fields_by_type.fields_shown(profile, is_queue=mailbox.queue_id is not None)
        for name in sorted(fields_by_type.SPECIFIC - shown):
            del self.fields[name]
        has_server = profile is not None
        self._limit(
            "incoming_delivery_method",
            DeliveryMethod.choices,
            {DeliveryMethod.NONE, DeliveryMethod.FORWARD_MAILBOX}
            | ({DeliveryMethod.SERVER_SIDE_SYNC} if has_server else set()),
        )
        self._limit(
            "outgoing_delivery_method",
            OutgoingDeliveryMethod.choices,
            {OutgoingDeliveryMethod.NONE}
            | ({OutgoingDeliveryMethod.SERVER_SIDE_SYNC} if has_server else set()),
        )
        for name, text in fields_by_type.help_texts(profile).items():
            if name in self.fields:
                self.fields[name].help_text += text

    def _limit(self, name: str, choices: Any, allowed: set[str]) -> None:
        field = self.fields[name]
        current = getattr(self.instance, name)
        # A value outside the choices is refused by the field itself.
        field.choices = _offered(choices, allowed, current)  # type: ignore[attr-defined]

    def save(self, commit: bool = True) -> Mailbox:
        mailbox = super().save(commit=False)
        if "email_address" in self.changed_data:
            # A new address must be approved before anything is synchronized again.
            address_changed(mailbox)
        if commit:
            mailbox.save()
        return mailbox


class SyncOptionsForm(SyncOptionsChangeMixin, forms.ModelForm):
    categories = CommaSeparatedField(
        required=False,
        max_length=2000,
        help_text="Stamped on items written to Exchange, separated by commas.",
    )
    contact_import_folders = CommaSeparatedField(
        required=False, max_length=5000, label="Contact folders (ids)"
    )
    contact_export_categories = CommaSeparatedField(
        required=False, max_length=2000, label="Exported categories or groups"
    )

    class Meta:
        model = ItemTypeSyncOptions
        fields = [
            "is_enabled",
            "crm_to_exchange",
            "exchange_to_crm",
            "delete_crm_to_exchange",
            "delete_exchange_to_crm",
            "conflict_strategy",
            "exchange_delete_mode",
            "categories",
            "sync_from",
            "contact_import_scope",
            "contact_import_folders",
            "contact_export_scope",
            "contact_export_categories",
        ]
        widgets = {"sync_from": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        item_type = self.instance.item_type
        if item_type != ItemType.APPOINTMENT:
            del self.fields["sync_from"]
        if item_type != ItemType.CONTACT:
            for name in (
                "contact_import_scope",
                "contact_import_folders",
                "contact_export_scope",
                "contact_export_categories",
            ):
                del self.fields[name]
        pick_listed_contact_folders(self)


class BaseSyncOptionsFormSet(BaseModelFormSet):
    def clean(self) -> None:
        super().clean()
        # Django skips a form whose id is outside the queryset (another mailbox's options):
        # say so instead of reporting a save that did not happen.
        if any(form.instance.pk is None for form in self.forms):
            raise ValidationError("These options do not belong to this mailbox. Reload the page.")


SyncOptionsFormSet: type[BaseModelFormSet[ItemTypeSyncOptions, SyncOptionsForm]] = (
    modelformset_factory(
        ItemTypeSyncOptions,
        form=SyncOptionsForm,
        formset=BaseSyncOptionsFormSet,
        extra=0,
        # Existing rows only: a forged extra form must not create options for anyone.
        edit_only=True,
        can_delete=False,
    )
)


def regarding_choices(user: User) -> list[tuple[str, list[tuple[str, str]]]]:
    """The accounts and contacts the user can see, grouped, as "account:12" values."""
    accounts = visible_to(Account.objects.order_by("name"), user)[:500]
    contacts = visible_to(Contact.objects.order_by("last_name", "first_name"), user)[:500]
    return [
        ("Accounts", [(f"account:{a.pk}", a.name) for a in accounts]),
        ("Contacts", [(f"contact:{c.pk}", str(c)) for c in contacts]),
    ]


class TrackingFolderForm(forms.ModelForm):
    """A folder rule: email moved into the folder is tracked, regarding the chosen record.

    The folder is picked from the mailbox's Exchange folders under the Inbox, as a worker
    last listed them (`ExchangeFolderListing`); its id and name are taken from that list,
    never from the request. Until a list exists, the id and name are typed in.
    """

    folder = forms.ChoiceField(
        label="Folder", help_text="Folders under the Inbox, as last listed from Exchange."
    )
    regarding = forms.ChoiceField(
        required=False, label="Regarding", help_text="Tracked email is set regarding this record."
    )

    class Meta:
        model = MailboxTrackingFolder
        fields = ["exchange_folder_name", "exchange_folder_id"]
        labels = {
            "exchange_folder_name": "Folder name",
            "exchange_folder_id": "Exchange folder id",
        }
        help_texts = {"exchange_folder_id": "The folder must be under the Inbox."}

    def __init__(
        self,
        *args: Any,
        mailbox: Mailbox,
        user: User,
        listed_folders: list[dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.mailbox = mailbox
        self.user = user
        self.listed = {f["id"]: f for f in listed_folders or [] if f.get("id")}
        if self.listed:
            tracked = set(
                MailboxTrackingFolder.objects.filter(mailbox=mailbox).values_list(
                    "exchange_folder_id", flat=True
                )
            )
            self.fields["folder"].choices = [  # type: ignore[attr-defined]
                ("", "— choose a folder —"),
                *((f["id"], f["path"]) for f in self.listed.values() if f["id"] not in tracked),
            ]
            del self.fields["exchange_folder_name"]
            del self.fields["exchange_folder_id"]
        else:
            del self.fields["folder"]
        self.fields["regarding"].choices = [  # type: ignore[attr-defined]
            ("", "— none —"),
            *regarding_choices(user),
        ]

    @property
    def picks_from_list(self) -> bool:
        return "folder" in self.fields

    def clean_folder(self) -> str:
        folder_id: str = self.cleaned_data["folder"]
        listed = self.listed.get(folder_id)
        if listed is None:  # the choices check this too; a stale page may not
            raise ValidationError("Choose one of the listed folders.")
        self.instance.exchange_folder_id = folder_id
        name = listed.get("path") or listed.get("name") or folder_id
        self.instance.exchange_folder_name = name[:255]
        return folder_id

    def clean_regarding(self) -> OwnedRecord | None:
        value = self.cleaned_data.get("regarding") or ""
        if not value:
            return None
        kind, _, raw_id = value.partition(":")
        models: dict[str, type[Account] | type[Contact]] = {"account": Account, "contact": Contact}
        model = models.get(kind)
        if model is None or not raw_id.isdigit():
            raise ValidationError("Choose an account or a contact.")
        records = visible_to(model._default_manager.all(), self.user)
        record = records.filter(pk=int(raw_id)).first()
        if record is None:
            raise ValidationError("Choose an account or a contact.")
        return record

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        folders = MailboxTrackingFolder.objects.filter(mailbox=self.mailbox)
        if folders.count() >= MAX_TRACKING_FOLDERS:
            raise ValidationError(f"A mailbox has at most {MAX_TRACKING_FOLDERS} tracking folders.")
        field = "folder" if self.picks_from_list else "exchange_folder_id"
        folder_id = cleaned.get(field)
        if folder_id and folders.filter(exchange_folder_id=folder_id).exists():
            self.add_error(field, "This folder is tracked already.")
        return cleaned

    def save(self, commit: bool = True) -> MailboxTrackingFolder:
        folder = super().save(commit=False)
        folder.mailbox = self.mailbox
        record = self.cleaned_data.get("regarding")
        if record is not None:
            folder.regarding_content_type = ContentType.objects.get_for_model(type(record))
            folder.regarding_object_id = record.pk
        if commit:
            folder.save()
        return folder
