"""Start work on a worker: the pages never talk to a mail server during a request.

The pages sit above the engine: they import `mailboxes.tasks` (which imports the engine);
nothing below imports the pages.
"""

import logging
from dataclasses import dataclass

from kombu.exceptions import OperationalError as BrokerError

from mailboxes import tasks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enqueued:
    ok: bool
    message: str


def enqueue_mailbox_task(task_name: str, mailbox_id: int, *, what: str) -> Enqueued:
    """Enqueue `mailboxes.tasks.<task_name>(mailbox_id)` and say in plain words what happened
    (a task this server's version lacks, a broker that cannot be reached)."""
    return enqueue_task(task_name, mailbox_id, what=what)


def enqueue_task(task_name: str, *ids: int | None, what: str) -> Enqueued:
    """Enqueue `mailboxes.tasks.<task_name>(*ids)`, saying what happened as above."""
    task = getattr(tasks, task_name, None)
    if task is None:
        return Enqueued(False, f"{what} is not available on this server yet.")
    try:
        task.delay(*ids)
    except BrokerError:
        logger.exception("could not enqueue %s%s", task_name, ids)
        return Enqueued(False, f"{what} could not be started: the task queue is not reachable.")
    return Enqueued(True, f"{what} started. This page shows the result when it is done.")
