"""Moments in words for the pages: "just now" rather than "0 minutes ago"."""

from datetime import datetime

from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

# Below this, "just now" / "any moment now" instead of "0 minutes".
MINUTE = 60


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    now = now or timezone.now()
    if (now - moment).total_seconds() < MINUTE:
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def within(moment: datetime, now: datetime | None = None) -> str:
    """ "in 5 minutes", or "any moment now" for less than a minute (or a moment passed)."""
    now = now or timezone.now()
    if (moment - now).total_seconds() < MINUTE:
        return "any moment now"
    return f"in {timeuntil(moment, now, depth=1)}"
