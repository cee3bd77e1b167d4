"""The Celery application: workers and beat load their configuration from Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")

app = Celery("crmsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Graph subscription tasks sit with the webhooks, below the mailbox tasks they enqueue.
app.autodiscover_tasks(["mailboxes.webhooks"])
