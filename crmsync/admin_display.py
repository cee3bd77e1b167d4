"""Small display helpers shared by the admin screens."""

from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from crmsync.wrapping import shortened

# One colour per state value, whatever the field: the values are shared by several choices.
_COLOURS = {
    "success": "#2e7d32",
    "approved": "#2e7d32",
    "failure": "#c62828",
    "rejected": "#c62828",
    "error": "#c62828",
    "warning": "#ef6c00",
    "pending": "#ef6c00",
    "info": "#1565c0",
    "not_run": "#757575",
}


def badge(value: str, label: str) -> SafeString:
    """A coloured label for a status value; unknown values are grey."""
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 6px;border-radius:8px;'
        'white-space:nowrap">{}</span>',
        _COLOURS.get(value, "#757575"),
        label,
    )


def excerpt(text: str, length: int = 80) -> SafeString:
    """The first line of a text, shortened for a list column; the whole text on hover (and on
    the detail page)."""
    return shortened(text, length)


def admin_link(obj: Any) -> SafeString | str:
    """A link to an object's admin change page, its name if it has none, or a dash."""
    if obj is None:
        return "-"
    meta = obj._meta
    try:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return str(obj)
    return format_html('<a href="{}">{}</a>', url, obj)


def seconds(milliseconds: int | None) -> str:
    """A duration kept in milliseconds, shown in seconds ("1.2 s"); "-" when unknown."""
    if milliseconds is None:
        return "-"
    return f"{milliseconds / 1000:.1f} s"
