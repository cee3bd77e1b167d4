from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from crmsync.celery import app as celery_app
from tests import factories


@pytest.fixture
def staff_without_permissions_client(db: None) -> Client:
    client = Client()
    client.force_login(factories.make_user(username="helpdesk", is_staff=True))
    return client


@pytest.fixture
def on_workers(django_capture_on_commit_callbacks: Any) -> Iterator[Callable[..., Any]]:
    """Runs a request with Celery eager: the tasks it enqueues run before it returns.

    Callbacks the request registers with `on_commit` (tasks enqueued after the commit) run
    too, as they would outside the test's transaction.
    """
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True

    def run(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    try:
        yield run
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]
