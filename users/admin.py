from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import reverse
from django.utils.html import format_html

from users.models import User

DELIVERY_FIELDS = ("incoming_delivery_method", "outgoing_delivery_method", "act_delivery_method")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        (
            "Email delivery",
            {
                "fields": DELIVERY_FIELDS,
                "description": "With server-side synchronization and an email address, the "
                "user gets a mailbox on the default email server profile when saved.",
            },
        ),
        ("Preferences", {"fields": ("time_zone",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Email delivery", {"fields": DELIVERY_FIELDS}),
    )
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "incoming_delivery_method",
        "act_delivery_method",
        "mailbox_link",
    )
    list_filter = (*DjangoUserAdmin.list_filter, *DELIVERY_FIELDS)
    list_select_related = ("mailbox",)

    @admin.display(description="mailbox")
    def mailbox_link(self, obj: User) -> str:
        mailbox = getattr(obj, "mailbox", None)
        if mailbox is None:
            return "-"
        url = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])
        return format_html('<a href="{}">{}</a>', url, mailbox)
