"""Two worker processes filing the same mail at once: one activity per Message-ID.

The same messages reach a user's and a queue's mailbox; a worker per mailbox pulls them at
the same moment. PostgreSQL lets both transactions run side by side, so only the per
Message-ID advisory lock keeps them from filing a message twice; on SQLite write
transactions take turns, and the test checks the same outcome there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from activities.models import Email
from crmsync.crypto import _load_keys
from tests.mail.messages import build
from tests.sync.workers import database_url

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 60


def _start_worker(mailbox_id: int, gate: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.mail.filing_worker", str(mailbox_id), str(gate)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise AssertionError(f"worker did not start: {line}{process.communicate()[1][-3000:]}")
    return process


def _finish(process: subprocess.Popen[str]) -> dict[str, int]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.django_db(transaction=True)
def test_two_workers_filing_the_same_messages_make_one_email_each(
    imap_profile, make_mailbox, dovecot, tmp_path
):
    user_box = make_mailbox(imap_profile)
    queue_box = make_mailbox(imap_profile, queue_name="support")
    for n in range(MESSAGES):
        raw = build(
            to=[user_box.email_address, queue_box.email_address],
            subject=f"Order {n}",
            message_id=f"<order-{n}-{tmp_path.name}@client.test>",
        )
        dovecot.deliver(user_box.email_address, raw)
        dovecot.deliver(queue_box.email_address, raw)
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "CRMSYNC_DATA_DIR": str(tmp_path / "data"),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CRMSYNC_ENCRYPTION_KEYS": ",".join(_load_keys()),
        "LOG_LEVEL": "WARNING",
    }
    gate = tmp_path / "gate"
    # The workers must not inherit an open transaction or connection of this process.
    connections.close_all()
    workers = [_start_worker(box.pk, gate, env) for box in (user_box, queue_box)]

    gate.touch()
    results = [_finish(worker) for worker in workers]

    assert sum(r["failed"] for r in results) == 0
    assert sum(r["filed"] for r in results) == MESSAGES
    assert sum(r["linked"] for r in results) == MESSAGES
    emails = Email.objects.filter(message_id__endswith=f"-{tmp_path.name}@client.test>")
    assert emails.count() == MESSAGES
    for email in emails.prefetch_related("parties"):
        users = {p.user_id for p in email.parties.all() if p.user_id is not None}
        queues = {p.queue_id for p in email.parties.all() if p.queue_id is not None}
        assert user_box.user_id in users, email.subject
        assert queue_box.queue_id in queues, email.subject
