"""Real Celery worker processes for end-to-end tests, on the test database and a private
broker (a filesystem broker in a temporary folder, or a private Redis database and queue)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.db import connection

from crmsync.celery import app
from crmsync.crypto import _load_keys

ROOT = Path(__file__).resolve().parents[2]
REDIS_TEST_DB = 7  # when the broker URL names no database


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


class Workers:
    """Started worker processes and the environment they share with the test."""

    def __init__(self, tmp: Path, queue: str, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.queue = queue
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(
        self,
        count: int = 1,
        *,
        extra_env: dict[str, str] | None = None,
        pool: str = "solo",
        concurrency: int = 1,
    ) -> None:
        """Start `count` workers; `pool="prefork"` runs tasks in `concurrency` pool children,
        which `kill_child` SIGKILLs and the worker replaces (a worker death without the cost
        of starting a worker; with two children the other runs the next task meanwhile)."""
        pool_args = (
            ["--pool=solo"]
            if pool == "solo"
            else [f"--pool={pool}", f"--concurrency={concurrency}"]
        )
        for _ in range(count):
            n = len(self.processes)
            log = self.tmp / f"worker{n}.log"
            self.logs.append(log)
            env = {**self.env, **(extra_env or {})}
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "crmsync",
                    "worker",
                    *pool_args,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    self.queue,
                    "-n",
                    f"w{n}-{os.getpid()}@%h",
                    "--loglevel=INFO",
                ],
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            self.processes.append(process)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for log in self.logs:
            while b"ready." not in log.read_bytes():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)

    def kill(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait(10)

    def children(self, index: int) -> list[int]:
        """The pids of a prefork worker's pool children."""
        return [child.pid for child in psutil.Process(self.processes[index].pid).children()]

    def kill_child(self, pid: int, index: int = 0) -> bool:
        """SIGKILL the pool child `pid` of a prefork worker (and whatever task it runs); the
        worker starts a replacement. False when `pid` is not one of its children (any more)."""
        if pid not in self.children(index):
            return False
        os.kill(pid, signal.SIGKILL)
        return True

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def celery_workers(
    tmp: Path, *, broker_url: str | None = None, **env_overrides: str
) -> Iterator[Workers]:
    """Point this process's Celery app at a private broker (`broker_url`, else the
    configured one's) and yield a worker launcher."""
    queue = "celery"
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "CRMSYNC_DATA_DIR": str(tmp / "data"),
        "CRMSYNC_ENCRYPTION_KEYS": ",".join(_load_keys()),
        "PYTHONUNBUFFERED": "1",
        **env_overrides,
    }
    broker_url = broker_url or settings.CELERY_BROKER_URL
    saved: dict[str, Any] = {
        "broker_url": app.conf.broker_url,
        "broker_transport_options": app.conf.broker_transport_options,
    }
    if broker_url.startswith("redis"):
        # The configured database when the URL names one: two test runs sharing a Redis
        # server (CI jobs, several checkouts) each name their own, and with one fixed
        # database their workers took each other's tasks.
        base, _, db = broker_url.rpartition("/")
        if broker_url.count("/") <= 2 or not db.isdigit():
            base, db = broker_url.rstrip("/"), str(REDIS_TEST_DB)
        broker_url = f"{base}/{db}"
        options: dict[str, Any] = {}
        import redis

        # A private database: drop what an aborted earlier run may have left queued.
        redis.Redis.from_url(broker_url).delete(queue, "unacked", "unacked_index")
    else:
        broker_url = "filesystem://"
        folder = tmp / "data" / "broker"
        (folder / "queue").mkdir(parents=True, exist_ok=True)
        (folder / "processed").mkdir(parents=True, exist_ok=True)
        (folder / "control").mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    env["CELERY_BROKER_URL"] = broker_url
    # Celery reads CELERY_BROKER_URL from the environment before its configuration, so the
    # publishing side (this process) must see the private broker there too.
    saved_env = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = broker_url
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = options
    _reset_connections()
    workers = Workers(tmp, queue, env)
    try:
        yield workers
    finally:
        workers.stop()
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        for key, value in saved.items():
            setattr(app.conf, key, value)
        _reset_connections()


def _reset_connections() -> None:
    """Forget pooled broker connections so the next publish uses the current broker URL."""
    app._pool = None
    app.amqp._producer_pool = None
