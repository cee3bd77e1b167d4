"""How code saves a profile: the demo seed, manage.py commands, the benches and the tests'
factory save through `save_profile` (or `create_profile`), so that an active profile keeps
its server type's rules (`profiles/validation.py`) as the admin's forms and Activate require;
`broken_active_profiles` finds one that breaks them anyway (changed in the database
directly, or saved before a rule existed) for the health dashboard.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from crmsync.crypto import stored_values
from profiles.models import EmailServerProfile
from profiles.validation import rule_errors


def save_profile(profile: EmailServerProfile) -> EmailServerProfile:
    """Save a profile made or changed by code. An active one must keep its server type's
    rules, as the admin's forms and Activate require: one that breaks them is refused with
    a ValidationError naming what it lacks, and nothing is saved. An inactive one is saved
    as it is (Activate checks it). `save()` itself does not validate: the sync saves
    profiles for its own bookkeeping (a connection test's result) and must not be refused
    for a rule the profile broke before."""
    if profile.is_active:
        with stored_values():  # secrets are only checked for presence: never decrypted
            errors = rule_errors(profile)
        if errors:
            raise ValidationError(errors)
    profile.save()
    return profile


def create_profile(**fields: object) -> EmailServerProfile:
    """A new profile of these fields, saved by `save_profile`."""
    return save_profile(EmailServerProfile(**fields))


def broken_active_profiles() -> list[tuple[EmailServerProfile, dict[str, str]]]:
    """Each active profile that breaks its server type's rules, with what it lacks."""
    found = []
    with stored_values():
        for profile in EmailServerProfile.objects.filter(is_active=True).order_by("name"):
            errors = rule_errors(profile)
            if errors:
                found.append((profile, errors))
    return found
