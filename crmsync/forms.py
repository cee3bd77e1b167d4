"""Form pieces shared by the admin and the self-service pages.

Stored credentials are write-only: a password field renders empty (never the stored value,
not even masked), says whether a value is stored, keeps the stored value when it is left
blank, and comes with a "clear stored password" checkbox to remove it.

Usage, in a ModelForm::

    class MailboxForm(WriteOnlyPasswordsMixin, forms.ModelForm):
        password = WriteOnlyPasswordField()
        clear_password = ClearStoredPasswordField()

The checkbox is found by its name, ``clear_<field name>``; it is optional.
"""

from typing import TYPE_CHECKING, Any

from django import forms

from crmsync.crypto import stored_value

CLEAR_PREFIX = "clear_"


class ClearedPassword(str):
    """The empty value a "clear stored password" checkbox asks for.

    A model's `EncryptedTextField` ignores a plain blank coming from a form (the stored
    value is kept); this marked empty string is the one blank it stores.
    """


CLEARED = ClearedPassword("")


class WriteOnlyPasswordInput(forms.PasswordInput):
    """A password input that never renders a value, whatever the form holds."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        # new-password: browsers must not fill in the admin's own login password here.
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})})
        self.render_value = False

    def format_value(self, value: Any) -> str | None:
        return None


class WriteOnlyPasswordField(forms.CharField):
    """A password that can be set or replaced, never read back."""

    widget = WriteOnlyPasswordInput

    STORED_HELP = "A password is stored. Leave this blank to keep it."
    NOT_STORED_HELP = "No password is stored."

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)
        self.extra_help = self.help_text
        self.show_stored(has_value=False)

    def show_stored(self, *, has_value: bool) -> None:
        """Tell the reader whether a value is stored, without showing it."""
        self.has_stored_value = has_value
        state = self.STORED_HELP if has_value else self.NOT_STORED_HELP
        self.help_text = f"{state} {self.extra_help}".strip()
        self.widget.attrs["placeholder"] = "stored, unchanged" if has_value else ""

    def has_changed(self, initial: Any, data: Any) -> bool:
        # The initial value is never sent to the browser, so only a typed value is a change.
        return bool(data)


class ClearStoredPasswordField(forms.BooleanField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Clear stored password")
        kwargs.setdefault("help_text", "Removes the stored password.")
        super().__init__(**kwargs)


if TYPE_CHECKING:
    _ModelFormBase = forms.ModelForm
else:
    _ModelFormBase = object


class WriteOnlyPasswordsMixin(_ModelFormBase):
    """Applies the write-only rules to every WriteOnlyPasswordField of a ModelForm."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.write_only_password_fields():
            # Whether a value is stored, without decrypting it (its key may be missing).
            stored = stored_value(self.instance, name) if self.instance.pk else ""
            # model_to_dict copied the stored (encrypted) value into the initial data; it has
            # no use here.
            self.initial.pop(name, None)
            field.show_stored(has_value=bool(stored))
            clear = self.fields.get(CLEAR_PREFIX + name)
            if clear is not None and not stored:
                clear.disabled = True

    def write_only_password_fields(self) -> list[tuple[str, WriteOnlyPasswordField]]:
        return [
            (name, field)
            for name, field in self.fields.items()
            if isinstance(field, WriteOnlyPasswordField)
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned_data = self.cleaned_data
        for name, _field in self.write_only_password_fields():
            new_value = cleaned_data.get(name)
            clear = cleaned_data.get(CLEAR_PREFIX + name, False)
            if clear and new_value:
                self.add_error(name, "Enter a new password or clear the stored one, not both.")
            elif clear:
                cleaned_data[name] = CLEARED
            elif not new_value:
                # Absent from cleaned_data, the model field keeps the stored value.
                cleaned_data.pop(name, None)
        return cleaned_data
