"""A conflict waiting for Alice's decision in the demo, made the way one happens: her
appointments ask her on a conflict ("Ask the user"), the CRM's "Quarterly review with
Contoso" is synced to Exchange, then moved to another room in Outlook and in the CRM alike,
and the next sync finds both changed.

Run by scripts/demo after `seed_demo`, before the worker starts; it runs alice's cycles
in-process against the demo's EWS emulator. Nothing is done while a decision of hers waits
already, so a restarted demo keeps the one she has not answered.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from activities.models import Appointment
from mailboxes.connectors.ews.account import account_for, forget_connections
from mailboxes.models import ExchangeSyncIdMapping, ItemType, ItemTypeSyncOptions, Mailbox
from mailboxes.sync.cycle import run_cycle

SUBJECT = "Quarterly review with Contoso"
PENDING = ExchangeSyncIdMapping.UserDecision.PENDING


def _cycle(mailbox: Mailbox) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(next_due_at=None, act_postpone_until=None)
    result = run_cycle(mailbox.pk, respect_limit=False)
    if not result.ran:
        raise CommandError(f"alice's sync did not run: {result.reason}")
    if result.error is not None:
        raise CommandError(f"alice's sync failed: {result.error.code}: {result.error.message}")


class Command(BaseCommand):
    help = "Makes a conflict that waits for alice's decision (demo only; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        mailbox = Mailbox.objects.filter(user__username="alice").first()
        appointment = Appointment.objects.filter(owner_user__username="alice", subject=SUBJECT)
        if mailbox is None or not appointment.exists():
            raise CommandError("run seed_demo first: alice or her appointment is missing")
        if ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, user_decision=PENDING).exists():
            self.stdout.write("A conflict waits for alice's decision already.")
            return
        ItemTypeSyncOptions.objects.filter(mailbox=mailbox, item_type=ItemType.APPOINTMENT).update(
            conflict_strategy=ItemTypeSyncOptions.ConflictStrategy.MANUAL
        )
        try:
            self._make_conflict(mailbox, appointment.get())
        finally:
            forget_connections()

    def _make_conflict(self, mailbox: Mailbox, appointment: Appointment) -> None:
        _cycle(mailbox)  # the appointment reaches Exchange (or is synced already)
        mapping = ExchangeSyncIdMapping.objects.filter(
            mailbox=mailbox, crm_object_id=appointment.pk, object_type=ItemType.APPOINTMENT
        ).first()
        if mapping is None:
            raise CommandError(f"{SUBJECT!r} did not reach alice's calendar")
        mailbox.refresh_from_db()
        item = account_for(mailbox).calendar.get(id=mapping.exchange_item_id)
        item.location = "Contoso's office (moved in Outlook)"
        item.save(update_fields=["location"])
        appointment.refresh_from_db()
        appointment.location = "Meeting room 2 (moved in the CRM)"
        appointment.save()
        _cycle(mailbox)
        if not ExchangeSyncIdMapping.objects.filter(pk=mapping.pk, user_decision=PENDING).exists():
            raise CommandError("the second sync found no conflict")
        self.stdout.write(f"A conflict on {SUBJECT!r} waits for alice's decision.")
