"""How the admin hands work to the Celery workers: it enqueues tasks, never talks to a server.

Tasks are enqueued once the request's transaction commits, so a fast worker always reads
the rows this request wrote (outside a transaction `on_commit` runs at once).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from django.db import transaction


def engine_module(name: str) -> ModuleType | None:
    """`mailboxes.sync.<name>`, or None while the sync engine does not ship it yet."""
    full_name = f"mailboxes.sync.{name}"
    try:
        return importlib.import_module(full_name)
    except ImportError as exc:
        # Only the module's absence is expected; a broken import must be seen.
        if exc.name != full_name:
            raise
        return None


def has_connection_tests() -> bool:
    """Whether the tasks `test_profile` and `test_and_enable_mailbox` can run."""
    return engine_module("testing") is not None


def enqueue(task: Any, *args: Any) -> None:
    transaction.on_commit(lambda: task.delay(*args))


def enqueue_each(task: Any, ids: Iterable[int]) -> int:
    """One task per id; returns how many were enqueued."""
    count = 0
    for pk in ids:
        enqueue(task, pk)
        count += 1
    return count
