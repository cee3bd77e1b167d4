"""`manage.py sync_mailbox EMAIL [--full]`: one mailbox's sync in the foreground, for admins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from mailboxes.models import Mailbox
from mailboxes.sync.cycle import run_cycle


class Command(BaseCommand):
    help = "Synchronize one mailbox now, in the foreground, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The mailbox's email address.")
        parser.add_argument(
            "--full",
            action="store_true",
            help="Forget the stored sync states and pull everything again (no duplicates).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        mailbox = Mailbox.objects.filter(email_address__iexact=options["email"]).first()
        if mailbox is None:
            raise CommandError(f"No mailbox with the address {options['email']}.")
        bars: dict[str, tqdm[Any]] = {}

        def progress(label: str, done: int, total: int | None) -> None:
            bar = bars.get(label)
            if bar is None:
                bar = bars[label] = tqdm(desc=label, total=total, unit="item", leave=True)
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            result = run_cycle(
                mailbox.pk, full_resync=options["full"], progress=progress, respect_limit=False
            )
        finally:
            for bar in bars.values():
                bar.close()
        if not result.ran:
            raise CommandError(f"Not synced: {result.reason.rstrip('.')}.")
        self.stdout.write(
            f"{mailbox.email_address}: {result.items_processed} processed, "
            f"{result.items_failed} failed in {result.duration_ms} ms"
        )
        if result.error is not None:
            raise CommandError(f"{result.error.code}: {result.error.message}")
