"""`{{ moment|ago }}`: "just now", "5 minutes ago", "2 days ago" (the coarsest unit)."""

from datetime import datetime

from django import template

from crmsync.when import ago as _ago

register = template.Library()


@register.filter
def ago(moment: datetime | None) -> str:
    return _ago(moment)
