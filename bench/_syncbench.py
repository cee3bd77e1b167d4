"""Shared set-up of the sync benchmarks: a private data directory and SQLite database, the
EWS emulator or the emulator's Microsoft 365 tenant (Entra ID and Graph over TLS), and rows
for mailboxes on a profile pointing at it."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

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
from ews_emulator.control import ControlClient  # noqa: E402
from ews_emulator.testing import (  # noqa: E402
    EmulatorProcess,
    run_emulator,
    self_signed_certificate,
    start_emulator,
)
from mailboxes.models import Mailbox  # noqa: E402
from profiles.models import EmailServerProfile  # noqa: E402
from profiles.saving import create_profile  # noqa: E402
from users.models import User  # noqa: E402


def migrate() -> None:
    call_command("migrate", verbosity=0)


def emulator() -> EmulatorProcess:
    return start_emulator(
        WORKDIR / "ews.sqlite3", users=[], impersonator=("svc@example.com", "svc")
    )


def profile(ews: EmulatorProcess, **fields: Any) -> EmailServerProfile:
    fields.setdefault("max_concurrent_connections", 300)
    return create_profile(
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
    return owned_mailbox(prof, email, username=email, password="secret")


def owned_mailbox(prof: EmailServerProfile, email: str, **fields: Any) -> Mailbox:
    """A user's approved mailbox syncing appointments, contacts and tasks server-side (unless
    `fields` say otherwise); the user is made without the mailbox the signal would add."""
    user = User.objects.create(
        username=email,
        email=email,
        incoming_delivery_method=DeliveryMethod.NONE,
        outgoing_delivery_method=OutgoingDeliveryMethod.NONE,
        act_delivery_method=ActDeliveryMethod.NONE,
    )
    values: dict[str, Any] = {
        "incoming_delivery_method": DeliveryMethod.NONE,
        "outgoing_delivery_method": OutgoingDeliveryMethod.NONE,
        "act_delivery_method": ActDeliveryMethod.SERVER_SIDE_SYNC,
        **fields,
    }
    return Mailbox.objects.create(
        user=user,
        email_address=email,
        profile=prof,
        approval_status=Mailbox.ApprovalStatus.APPROVED,
        approved_email_address=email,
        **values,
    )


# --- Microsoft 365 (Graph) ------------------------------------------------------------------

TENANT, CLIENT_ID, SECRET = "bench.onmicrosoft.com", "bench-app", "bench-secret"


@dataclass(frozen=True)
class GraphTenant:
    """The emulator's Entra ID and Graph over TLS, with one application (all roles)."""

    base: str  # https://127.0.0.1:PORT
    ca_file: str
    control: ControlClient
    pid: int  # the emulator's process

    def new_address(self) -> str:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        self.control.create_mailbox(email, "secret")
        return email


@contextlib.contextmanager
def graph_tenant(*extra_args: str) -> Iterator[GraphTenant]:
    """The emulator serving Graph over TLS with a certificate this process trusts for Graph
    (CRMSYNC_MICROSOFT_CA_BUNDLE), the request budget per mailbox lifted unless
    `--graph-rate` is given."""
    folder = WORKDIR / "m365"
    folder.mkdir(exist_ok=True)
    cert, key = self_signed_certificate(folder, "server")
    settings.CRMSYNC_MICROSOFT_CA_BUNDLE = cert
    os.environ["CRMSYNC_MICROSOFT_CA_BUNDLE"] = cert  # for the worker processes
    args = ["--tls", cert, key, "--tenant", TENANT, "--app", f"{CLIENT_ID}:{SECRET}"]
    if "--graph-rate" not in extra_args:
        args += ["--graph-rate", "10000000"]
        # crmsync's own count of that budget (`connectors/graph/limits.py`) is lifted with it
        settings.CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES = 10_000_000
        os.environ["CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES"] = "10000000"
    with run_emulator(folder / "graph.db", [], extra_args=[*args, *extra_args]) as emulator:
        base = emulator.ews_url.split("/EWS/")[0]
        control = ControlClient(base, ssl_context=ssl.create_default_context(cafile=cert))
        yield GraphTenant(base, cert, control, emulator.pid)


def graph_profile(tenant: GraphTenant, **fields: Any) -> EmailServerProfile:
    fields.setdefault("max_concurrent_connections", 300)
    return create_profile(
        name=f"bench-m365-{uuid.uuid4().hex[:6]}",
        server_type=EmailServerProfile.ServerType.MICROSOFT_365,
        oauth_tenant_id=TENANT,
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=SECRET,
        oauth_authority_host=tenant.base,
        graph_endpoint=f"{tenant.base}/v1.0",
        incoming_server_location="",
        **fields,
    )


def graph_mailbox(tenant: GraphTenant, prof: EmailServerProfile, **fields: Any) -> Mailbox:
    return owned_mailbox(prof, tenant.new_address(), **fields)


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
    """`n` Celery worker processes (solo pool), once all of them answer a ping: a loaded
    machine takes more than a few seconds to import them, which a benchmark must not time
    (nor count in their CPU)."""
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
    _wait_until_ready(workers, {f"bench{i}@" for i in range(n)})
    return workers


def _wait_until_ready(workers: list[subprocess.Popen[bytes]], names: set[str]) -> None:
    from crmsync.celery import app

    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        time.sleep(4)  # a ping needs a broker that broadcasts
        return
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            raise SystemExit(f"a worker stopped at start: see its log in {WORKDIR}")
        answered = {name for reply in app.control.ping(timeout=1.0) for name in reply}
        if all(any(a.startswith(prefix) for a in answered) for prefix in names):
            return
    raise SystemExit("the workers did not answer a ping within 120 s")


def start_beat() -> subprocess.Popen[bytes]:
    """Celery beat, its schedule in the working directory (CRMSYNC_DISPATCH_SECONDS in the
    environment sets how often it dispatches due mailboxes)."""
    schedule = str(WORKDIR / "celerybeat-schedule")
    return start_process(
        ["-m", "celery", "-A", "crmsync", "beat", "--schedule", schedule, "--loglevel=WARNING"],
        "beat",
    )


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def cpu_seconds(*pids: int) -> float:
    """CPU seconds (user and system) used so far by these processes."""
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def report(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, sort_keys=True), flush=True)
