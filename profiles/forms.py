from typing import Any

from django import forms

from crmsync.forms import ClearStoredPasswordField, WriteOnlyPasswordField, WriteOnlyPasswordsMixin
from profiles.models import EmailServerProfile

ServerType = EmailServerProfile.ServerType

_INCOMING_LOGIN = (
    "incoming_server_location",
    "incoming_port",
    "incoming_use_ssl",
    "incoming_credential_retrieval",
    "incoming_username",
    "incoming_password",
    "clear_incoming_password",
    "use_same_settings_for_outgoing",
)
_OUTGOING_LOGIN = (
    "outgoing_server_location",
    "outgoing_port",
    "outgoing_use_ssl",
    "outgoing_credential_retrieval",
    "outgoing_username",
    "outgoing_password",
    "clear_outgoing_password",
)
_EWS = (
    "incoming_use_autodiscover",
    "incoming_authentication_protocol",
    "incoming_use_impersonation",
    "outgoing_use_autodiscover",
    "outgoing_authentication_protocol",
    "outgoing_use_impersonation",
    "autodiscover_domain",
    "exchange_version",
)
APPLICATION = (
    "oauth_tenant_id",
    "oauth_client_id",
    "oauth_client_secret",
    "clear_oauth_client_secret",
    "oauth_private_key",
    "clear_oauth_private_key",
    "oauth_certificate",
    "oauth_certificate_thumbprint",
    "oauth_authority_host",
)
# The fields each server type uses, besides those every profile has (name, owner,
# scheduling, email processing). The admin page shows only these (profiles/static/profiles/
# server_type.js); an Exchange Server profile shows the application's fields when its
# authentication is OAuth (OAUTH_EXTRA). profiles/validation.py checks what each type needs.
FIELDS_BY_TYPE: dict[str, tuple[str, ...]] = {
    ServerType.EXCHANGE: (*_INCOMING_LOGIN, *_OUTGOING_LOGIN, *_EWS),
    ServerType.EXCHANGE_ONLINE: (
        "incoming_server_location",
        "exchange_version",
        *APPLICATION,
        "oauth_resource",
    ),
    ServerType.MICROSOFT_365: (*APPLICATION, "graph_endpoint"),
    ServerType.POP3_SMTP: (*_INCOMING_LOGIN, *_OUTGOING_LOGIN),
    ServerType.IMAP_SMTP: (*_INCOMING_LOGIN, *_OUTGOING_LOGIN, "smtp_saves_sent_copy"),
}
OAUTH_EXTRA = (*APPLICATION, "oauth_resource")
TYPE_SPECIFIC = sorted({name for names in FIELDS_BY_TYPE.values() for name in names})


class WriteOnlyTextarea(forms.Textarea):
    """A textarea for a PEM private key (a password input would strip its line breaks) that,
    like the password inputs, never renders the stored value."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false", **(attrs or {})}
        )

    def format_value(self, value: Any) -> str | None:
        return None


class WriteOnlySecretField(WriteOnlyPasswordField):
    STORED_HELP = "A value is stored. Leave this blank to keep it."
    NOT_STORED_HELP = "No value is stored."


class EmailServerProfileAdminForm(WriteOnlyPasswordsMixin, forms.ModelForm):
    incoming_password = WriteOnlyPasswordField(
        help_text="Of the service account, when credentials come from the profile."
    )
    clear_incoming_password = ClearStoredPasswordField()
    outgoing_password = WriteOnlyPasswordField(
        help_text="Of the service account, when credentials come from the profile."
    )
    clear_outgoing_password = ClearStoredPasswordField()
    oauth_client_secret = WriteOnlySecretField(
        label="Client secret",
        help_text="The secret's Value from Certificates & secrets (not its Secret ID).",
    )
    clear_oauth_client_secret = ClearStoredPasswordField(
        label="Clear stored client secret", help_text="Removes the stored client secret."
    )
    oauth_private_key = WriteOnlySecretField(
        label="Certificate private key",
        widget=WriteOnlyTextarea,
        help_text="PEM private key (-----BEGIN PRIVATE KEY-----, unencrypted) of the "
        "certificate uploaded to the application; used instead of a client secret.",
    )
    clear_oauth_private_key = ClearStoredPasswordField(
        label="Clear stored private key", help_text="Removes the stored private key."
    )

    class Meta:
        model = EmailServerProfile
        # The admin builds the form from its fieldsets; these are the fields defined here.
        fields = (
            "incoming_password",
            "outgoing_password",
            "oauth_client_secret",
            "oauth_private_key",
        )
        widgets = {"oauth_certificate": forms.Textarea(attrs={"rows": 4})}
