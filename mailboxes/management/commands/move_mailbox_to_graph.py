"""`manage.py move_mailbox_to_graph EMAIL PROFILE`: move a mailbox from its Exchange (EWS)
profile to a Microsoft 365 (Graph) profile, keeping every link (mailboxes/sync/move_to_graph)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from mailboxes.models import Mailbox
from mailboxes.sync.errors import SyncError
from mailboxes.sync.move_to_graph import MoveRefused, move_to_graph
from profiles.models import EmailServerProfile


class Command(BaseCommand):
    help = (
        "Move a mailbox from its Exchange (EWS) profile to a Microsoft 365 (Graph) profile: "
        "links are found again by the CRM id stamped on each item, nothing is duplicated or "
        "sent again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The mailbox's email address.")
        parser.add_argument("profile", help="The Microsoft 365 profile's name or id.")

    def handle(self, *args: Any, **options: Any) -> None:
        mailbox = (
            Mailbox.objects.select_related("profile")
            .filter(email_address__iexact=options["email"])
            .first()
        )
        if mailbox is None:
            raise CommandError(f"No mailbox with the address {options['email']}.")
        name = options["profile"]
        profiles = EmailServerProfile.objects.filter(name=name)
        if not profiles.exists() and name.isdigit():
            profiles = EmailServerProfile.objects.filter(pk=int(name))
        target = profiles.first()
        if target is None:
            raise CommandError(f"No profile named {name}.")
        bar: tqdm[Any] | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(desc="looking up links", total=total, unit="id", leave=True)
            bar.n = done
            bar.refresh()

        try:
            result = move_to_graph(mailbox, target, progress=progress)
        except (MoveRefused, SyncError) as exc:
            raise CommandError(f"Not moved: {exc}") from None
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(f"{mailbox.email_address} moved to {target}: {result.describe()}.")
