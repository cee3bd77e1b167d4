"""Start work on a worker: the pages never talk to a mail server during a request."""

import importlib
import logging
from dataclasses import dataclass

from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enqueued:
    ok: bool
    message: str


def enqueue_mailbox_task(task_name: str, mailbox_id: int, *, what: str) -> Enqueued:
    """Enqueue `mailboxes.tasks.<task_name>(mailbox_id)` and say in plain words what happened.

    The task module is imported only now, so the pages work (and say so) where the sync
    engine is not installed.
    """
    try:
        tasks = importlib.import_module("mailboxes.tasks")
    except ImportError:
        logger.warning("mailboxes.tasks cannot be imported; %s not started", task_name)
        tasks = None
    task = getattr(tasks, task_name, None)
    if task is None:
        return Enqueued(False, f"{what} is not available on this server yet.")
    try:
        task.delay(mailbox_id)
    except BrokerError:
        logger.exception("could not enqueue %s for mailbox %s", task_name, mailbox_id)
        return Enqueued(False, f"{what} could not be started: the task queue is not reachable.")
    return Enqueued(True, f"{what} started. This page shows the result when it is done.")
