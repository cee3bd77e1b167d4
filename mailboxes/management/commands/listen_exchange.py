"""`manage.py listen_exchange`: hold EWS streaming subscriptions, enqueue syncs on events."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mailboxes.sync.listener import serve


class Command(BaseCommand):
    help = "Listen to Exchange (EWS streaming notifications) and sync mailboxes on change."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--refresh", type=int, default=60, help="Seconds between re-reading the mailboxes."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.stdout.write("Listening to Exchange; Ctrl-C to stop.")
        serve(stop, refresh_seconds=options["refresh"])
