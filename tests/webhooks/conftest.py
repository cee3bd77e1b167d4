"""A live crmsync web server on loopback whose notification view the emulator's Graph posts
to, and what the view hands to Celery (recorded; the broker is exercised by the bench)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from mailboxes.models import Mailbox

Enqueued = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> Enqueued:
    """Dispatches and lifecycle tasks the view enqueues, recorded instead of sent."""
    from mailboxes import tasks
    from mailboxes.webhooks import tasks as webhook_tasks

    sent: Enqueued = {"dispatch": [], "lifecycle": []}
    monkeypatch.setattr(
        tasks.dispatch_due_mailboxes,
        "apply_async",
        lambda args, **kw: sent["dispatch"].append(tuple(args)),
    )
    monkeypatch.setattr(
        webhook_tasks.graph_lifecycle_event,
        "apply_async",
        lambda args, **kw: sent["lifecycle"].append(tuple(args)),
    )
    return sent


@pytest.fixture
def notification_url(live_server: Any, settings: Any) -> str:
    """CRMSYNC_GRAPH_NOTIFICATION_URL pointing at the live server's view."""
    url = f"{live_server.url}/graph/notifications/"
    settings.CRMSYNC_GRAPH_NOTIFICATION_URL = url
    return url


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Polls until the condition holds (the emulator notifies within a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def is_due(mailbox_id: int) -> bool:
    from django.utils import timezone

    due = Mailbox.objects.filter(pk=mailbox_id).values_list("next_due_at", flat=True).first()
    return due is not None and due <= timezone.now()
