"""Shared set-up of the sync benchmarks: a private data directory and SQLite database, the
EWS emulator, and rows for mailboxes on a profile pointing at it."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="crmsync-syncbench-"))
if not os.environ.get("CRMSYNC_BENCH_KEEP"):
    # A full run leaves a few GB of databases behind otherwise.
    atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)
os.environ.setdefault("DEBUG", "true")
os.environ["CRMSYNC_DATA_DIR"] = str(WORKDIR / "data")
os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
os.environ["LOG_LEVEL"] = "WARNING"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# Measure as a production worker runs: DEBUG keeps every SQL statement in memory
# (connection.queries), which costs time and makes memory grow with the item count.
settings.DEBUG = False

from django.core.management import call_command  # noqa: E402

from crmsync.choices import ActDeliveryMethod, DeliveryMethod, OutgoingDeliveryMethod  # noqa: E402
from ews_emulator.testing import EmulatorProcess, start_emulator  # noqa: E402
from mailboxes.models import Mailbox  # noqa: E402
from profiles.models import EmailServerProfile  # noqa: E402
from users.models import User  # noqa: E402


def migrate() -> None:
    call_command("migrate", verbosity=0)


def emulator() -> EmulatorProcess:
    return start_emulator(
        WORKDIR / "ews.sqlite3", users=[], impersonator=("svc@example.com", "svc")
    )


def profile(ews: EmulatorProcess, **fields: Any) -> EmailServerProfile:
    fields.setdefault("max_concurrent_connections", 300)
    return EmailServerProfile.objects.create(
        name=f"bench-{uuid.uuid4().hex[:6]}",
        incoming_server_location=ews.ews_url,
        incoming_authentication_protocol="basic",
        exchange_version="2016",
        **fields,
    )


def mailbox(ews: EmulatorProcess, prof: EmailServerProfile, *, create: bool = True) -> Mailbox:
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    if create:
        ews.control.create_mailbox(email, "secret")
    user = User.objects.create(
        username=email,
        email=email,
        incoming_delivery_method=DeliveryMethod.NONE,
        outgoing_delivery_method=OutgoingDeliveryMethod.NONE,
        act_delivery_method=ActDeliveryMethod.NONE,
    )
    return Mailbox.objects.create(
        user=user,
        email_address=email,
        profile=prof,
        username=email,
        password="secret",
        approval_status=Mailbox.ApprovalStatus.APPROVED,
        approved_email_address=email,
        incoming_delivery_method=DeliveryMethod.NONE,
        outgoing_delivery_method=OutgoingDeliveryMethod.NONE,
        act_delivery_method=ActDeliveryMethod.SERVER_SIDE_SYNC,
    )


def production_env() -> dict[str, str]:
    """The environment of worker and listener processes: as in production, DEBUG off (no
    SQL query log), hence a secret key and the encryption keys of their own."""
    from crmsync.crypto import _load_keys

    return {
        **os.environ,
        "CRMSYNC_ENCRYPTION_KEYS": ",".join(_load_keys()),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }


def start_process(args: list[str], log_name: str) -> subprocess.Popen[bytes]:
    """`python <args>` in the project directory, its output in the working directory."""
    log = open(WORKDIR / f"{log_name}.log", "wb")  # noqa: SIM115 (open while it runs)
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=production_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_workers(n: int) -> list[subprocess.Popen[bytes]]:
    """`n` Celery worker processes (solo pool), given a few seconds to start."""
    workers = [
        start_process(
            [
                "-m",
                "celery",
                "-A",
                "crmsync",
                "worker",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"bench{i}@%h",
                "--loglevel=WARNING",
            ],
            f"worker{i}",
        )
        for i in range(n)
    ]
    time.sleep(4)
    return workers


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def report(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, sort_keys=True), flush=True)
