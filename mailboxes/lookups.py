"""Django filter paths ("profile__server_type") read on a loaded mailbox, so that a rule
written once as lookups serves as a query and in Python (`channels/`, `sync/eligibility.py`)."""

from __future__ import annotations

from typing import Any

from mailboxes.models import Mailbox


def value_at(mailbox: Mailbox, path: str) -> Any:
    """The value at a filter path ("profile__is_active"); None past a missing row."""
    value: Any = mailbox
    for name in path.split("__"):
        if value is None:
            return None
        value = getattr(value, name)
    return value


def choice_label(path: str, value: str) -> str:
    """The label of `value` among the choices of the field at `path` (from a mailbox)."""
    model: Any = Mailbox
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    choices = dict(model._meta.get_field(name).flatchoices)
    return str(choices.get(value, value))
