"""Meeting changes held back: what the server cannot write without telling attendees whom
the mailbox's rule says must not be told (over Microsoft Graph, which has no "send no
invitations"), kept flagged with a sentence saying why and how to resolve it. `push.py`
decides what is held."""

from __future__ import annotations

import logging

from django.utils import timezone

from mailboxes.itemtypes.common import R
from mailboxes.models import ChangeType, ExchangeSyncIdMapping
from mailboxes.sync.records import TypeSync

logger = logging.getLogger(__name__)

HELD_CHANGE = (
    "Not written to Microsoft 365: Microsoft Graph cannot change this meeting without "
    "sending its attendees an update or an invitation, and this change may not send one "
    '("send invitations from the CRM" is off, or the change came before the first sync or an '
    'option change). Switch "send invitations from the CRM" on, or change the meeting again '
    "in the CRM, to send it to them; or make the change in Outlook."
)
HELD_DELETE = (
    "Not deleted in Microsoft 365: its attendees were sent this meeting, and Microsoft Graph "
    'cannot delete it without sending them a cancellation while "send invitations from the '
    'CRM" is off. Switch that option on to cancel it for them, or delete it in Outlook.'
)
HELD_CODE = ExchangeSyncIdMapping.MEETING_HELD


def hold(ts: TypeSync[R], mappings: list[ExchangeSyncIdMapping], why: str) -> None:
    """Changes not written to the server because it would tell attendees the rule says must
    not be told: kept flagged (looked at again each cycle) with a sentence saying why and
    how to resolve it, shown on the mailbox page and the appointment."""
    if not mappings:
        return
    ExchangeSyncIdMapping.objects.filter(pk__in=[m.pk for m in mappings]).exclude(
        from_crm_change_type=ChangeType.DELETE
    ).update(from_crm_change_type=ChangeType.UPDATE)
    ExchangeSyncIdMapping.objects.filter(pk__in=[m.pk for m in mappings]).update(
        last_error_code=HELD_CODE, last_error_text=why, last_error_at=timezone.now()
    )
    logger.info("mailbox %s: %s meeting change(s) held", ts.mailbox.pk, len(mappings))
