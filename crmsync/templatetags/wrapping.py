"""`{{ address|breakable }}` and `{{ error|shortened:120 }}`: see `crmsync.wrapping`."""

from django import template
from django.utils.safestring import SafeString

from crmsync import wrapping

register = template.Library()


@register.filter
def breakable(value: object) -> SafeString:
    return wrapping.breakable("" if value is None else value)


@register.filter
def shortened(value: object, length: int = 80) -> SafeString:
    return wrapping.shortened("" if value is None else str(value), int(length))
