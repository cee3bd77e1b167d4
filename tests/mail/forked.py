"""A sending worker in a child process, for tests that kill it in the middle of a send."""

from __future__ import annotations

import os

from django.db import connections

from mailboxes.mail.cycle import send_pending
from mailboxes.models import Mailbox


def send_in_child(mailbox_pk: int) -> int:
    """Fork a process that sends the mailbox's pending emails; its pid, to kill.

    The parent's database connections are closed first so the child opens its own."""
    for alias in connections:
        connections[alias].close()
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            send_pending(Mailbox.objects.select_related("profile", "user").get(pk=mailbox_pk))
        finally:
            os._exit(0)
    return pid
