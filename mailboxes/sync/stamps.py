"""The CRM record ids still to write on items, where the connector's ids survive moves
(`ItemConnector.ids_survive_moves`: Graph's immutable ids), and those the pull could not
write where they do not (EWS: the pull marks each page's items once it is committed, and a
failed request or a worker that died before sending it leaves the flag set).

There the pull does not write them with its pages: a page's transaction marks the mappings
of the items that do not carry their record id `stamp_pending`, and after the pull of the
cycle at most `CRMSYNC_GRAPH_STAMPS_PER_CYCLE` of them are written, oldest first, in calls
of `CHUNK` (the connector sends them in `$batch`es, within the mailbox's request slots; a
throttled answer stops the cycle and postpones the mailbox like any other). A first sync of
17,000 items thus links every record at once and spends at most a quarter of Microsoft's
budget of 10,000 requests per mailbox and 10 minutes on marks each cycle, instead of
17,000 requests inside it.

Meanwhile the mapping finds its item by its id, which survives a move; the one place a
missing mark matters, an item gone from a folder looked for in the type's other folders by
its mark (`pull.exchange_deleted`), writes the item's mark first (`write_now`).

Writing a mark is idempotent. A written one clears the flag; one whose item is gone (404)
clears it too (the pull sees the item gone); one that failed stays pending and is written
again next cycle. The new change key is not kept: the next pull reads the item again, finds
its fields unchanged (its fingerprint) and writes nothing; a change made in Outlook between
the pull and the mark is still seen as one. An idle cycle asks one indexed query and sends
nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.conf import settings

from mailboxes.connectors.base import ItemNotFoundError, ItemRef, Saved
from mailboxes.itemtypes import TYPES
from mailboxes.models import ExchangeSyncIdMapping

if TYPE_CHECKING:
    from mailboxes.connectors.base import ItemConnector, MailboxConnector
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext

logger = logging.getLogger(__name__)

CHUNK = 100  # marks a connector call; the flags of each call are cleared before the next
PROGRESS_LABEL = "record ids written on items"


def write_pending_stamps(
    mailbox: Mailbox, connector: MailboxConnector, ctx: CycleContext, budget: int | None = None
) -> int:
    """Write up to `budget` pending marks of the mailbox, oldest first; how many were
    written. Those whose record is gone (deleted in the CRM since the pull) are dropped."""
    limit = settings.CRMSYNC_GRAPH_STAMPS_PER_CYCLE if budget is None else budget
    rows = list(
        ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, stamp_pending=True)
        .order_by("pk")
        .values_list("pk", "object_type", "crm_object_id", "exchange_item_id")[:limit]
    )
    if not rows:
        return 0
    by_type: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for pk, object_type, record_id, item_id in rows:
        if object_type in TYPES:
            by_type[object_type].append((pk, record_id, item_id))
    written = failed = 0
    ctx.report_progress(PROGRESS_LABEL, 0, len(rows))
    for object_type, members in by_type.items():
        kind = TYPES[object_type]
        alive = set(
            kind.model._default_manager.filter(pk__in={r for _, r, _ in members}).values_list(
                "pk", flat=True
            )
        )
        todo = [m for m in members if m[1] in alive]
        dead = [pk for pk, record_id, _ in members if record_id not in alive]
        if dead:
            # A mark must name a record that exists: none is written (the push deletes or
            # unlinks the item; a meeting it may not cancel silently keeps its mapping).
            ExchangeSyncIdMapping.objects.filter(pk__in=dead).update(stamp_pending=False)
        items = connector.items(kind)
        for start in range(0, len(todo), CHUNK):
            ctx.heartbeat()
            done, missed = write_now(mailbox, items, todo[start : start + CHUNK])
            written += len(done)
            failed += missed
            ctx.report_progress(PROGRESS_LABEL, written + failed, len(rows))
    ctx.add_processed(written)
    ctx.add_failed(failed)
    return written


def write_now(
    mailbox: Mailbox, items: ItemConnector, members: Sequence[tuple[int, int, str]]
) -> tuple[set[int], int]:
    """Write these marks ((mapping pk, record id, item id)) and clear the flags of those
    written or gone; (the pks written, how many failed). A throttled or broken request
    raises, leaving every flag of the call set."""
    if not members:
        return set(), 0
    results = items.stamp([(ItemRef(item_id, ""), record_id) for _, record_id, item_id in members])
    done: set[int] = set()
    gone: set[int] = set()
    failed = 0
    for (pk, record_id, _), result in zip(members, results, strict=True):
        if isinstance(result, Saved):
            done.add(pk)
        elif isinstance(result, ItemNotFoundError):
            gone.add(pk)
        else:
            failed += 1
            logger.warning(
                "mailbox %s: could not mark the item of record %s (tried again next cycle): %s",
                mailbox.pk,
                record_id,
                result,
            )
    if done or gone:
        ExchangeSyncIdMapping.objects.filter(pk__in=done | gone).update(stamp_pending=False)
    return done, failed
