"""Shared set-up of the mail benchmarks: a fresh database, Django, test mail servers."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(workdir: Path) -> None:
    """Django on a fresh database in `workdir` (or DATABASE_URL when given), migrated."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DEBUG", "true")
    os.environ["CRMSYNC_DATA_DIR"] = str(workdir)
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # DEBUG (needed for the development secret key) makes Django keep the SQL of the last
    # 9,000 queries, bodies included: tens of MB that a worker would not hold.
    settings.DEBUG = False

    call_command("migrate", verbosity=0)


def workdir() -> Path:
    """A fresh working folder (database, media), removed at exit unless CRMSYNC_BENCH_KEEP."""
    path = Path(tempfile.mkdtemp(prefix="crmsync-bench-"))
    if not os.environ.get("CRMSYNC_BENCH_KEEP"):
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def message_sizes(count: int, seed: int = 7) -> list[int]:
    """Mixed sizes from 1 KB to 1 MB: mostly small, some with attachments, a few large."""
    rng = random.Random(seed)
    sizes = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.75:
            sizes.append(rng.randint(1_000, 8_000))
        elif roll < 0.95:
            sizes.append(rng.randint(20_000, 100_000))
        else:
            sizes.append(rng.randint(300_000, 1_000_000))
    return sizes


def make_message(n: int, size: int, to: str, rng: random.Random) -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {n} <customer{n % 200}@client.test>"
    message["To"] = to
    message["Subject"] = f"Order {n} question"
    message["Date"] = format_datetime(__import__("datetime").datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain="client.test")
    text_size = min(size, 6_000)
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
    body = " ".join(rng.choice(words) for _ in range(text_size // 6))
    message.set_content(body[:text_size])
    if size > 8_000:
        message.add_attachment(
            rng.randbytes(int((size - text_size) * 0.74)),
            maintype="application",
            subtype="octet-stream",
            filename=f"file-{n}.bin",
        )
    return message.as_bytes()


class Progress:
    """Progress on stderr, so that stdout keeps only the JSON figures at the end."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._last = 0.0

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last > 0.5 or self.done >= self.total:
            self._last = now
            print(f"\r{self.label}: {self.done}/{self.total}", end="", file=sys.stderr)
            if self.done >= self.total:
                print(file=sys.stderr)


class RssSampler:
    """Peak resident memory of this process while a block runs."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.start_rss = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 1e6, 1)
