"""`manage.py check --database default` (and `migrate`, which runs the database checks):
a warning for each active profile that breaks its server type's rules, as the health
dashboard names them (`profiles/saving.broken_active_profiles`)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError


@register(Tags.database)
def active_profiles_keep_their_rules(
    app_configs: Any, databases: Any = None, **kwargs: Any
) -> list[CheckWarning]:
    if not databases:
        return []  # the database checks run only when asked for (`--database`)
    from profiles.saving import broken_active_profiles

    try:
        broken = broken_active_profiles()
    except DatabaseError:
        return []  # no tables yet: `migrate` checks before it creates them
    return [
        CheckWarning(
            f"The active profile “{profile.name}” breaks its server type's rules: "
            + " ".join(dict.fromkeys(errors.values())),
            hint="Complete it on its admin page, or deactivate it.",
            obj=profile,
            id="profiles.W001",
        )
        for profile, errors in broken
    ]
