"""The CRM record ids still to write on items, where the connector's ids survive moves
(`ItemConnector.ids_survive_moves`: Graph's immutable ids), and those the pull could not
write where they do not (EWS: the pull marks each page's items once it is committed, and a
failed request or a worker that died before sending it leaves the flag set).

There the pull does not write them with its pages: a page's transaction marks the mappings
of the items that do not carry their record id `stamp_pending`, and after the pull of the
cycle at most `CRMSYNC_GRAPH_STAMPS_PER_CYCLE` of them are written, oldest first, in calls
of `CHUNK` (the connector sends them in `$batch`es, within the mailbox's request slots). A
first sync of 17,000 items thus links every record at once and writes the marks over the
next cycles.

Cycles can follow each other closely (a webhook, "Sync now", the next page of a first sync),
so the budget is not only a cycle's: the connector says how many requests its server still
allows the marks (`MailboxConnector.room_for_marks`; over Graph three quarters of
Microsoft's 10,000 requests per mailbox and 10 minutes, counted across all workers by
`connectors/graph/limits.py`, the last quarter kept for the user's changes). When it is
spent the marks wait for a later cycle: the pulls and pushes of this one went on as usual,
the progress says so, and the mailbox gets one information alert (`DEFERRED`), acknowledged
by the cycle that writes marks again.

Meanwhile the mapping finds its item by its id, which survives a move; the one place a
missing mark matters, an item gone from a folder looked for in the type's other folders by
its mark (`pull.exchange_deleted`), writes the item's mark first (`write_now`).

Writing a mark is idempotent. A written one clears the flag; one whose item is gone (404)
clears it too (the pull sees the item gone). One throttled (a 429 inside the `$batch`) or
met by a server error stays pending, the marks written beside it are kept, and the cycle
stops with that error, which postpones the mailbox by its Retry-After (no worker waits on
it). One the server refuses (a 400: the item will not take the property) is tried again by
the next cycles, up to `MAX_ATTEMPTS` in all (the mapping's `retries`, shared with the
push's refused writes): then it is given up, the mapping kept (its item is still found by
its id, only a move between folders is no longer followed), its `last_error_code`
`GAVE_UP` and text say why on the mapping's admin page, and the mailbox gets one warning
alert (`GAVE_UP`) naming how many. The new change key is not kept: the next pull reads the
item again, finds its fields unchanged (its fingerprint) and writes nothing; a change made
in Outlook between the pull and the mark is still seen as one. An idle cycle asks one
indexed query and sends nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from mailboxes.connectors import TransientSyncError
from mailboxes.connectors.base import ItemNotFoundError, ItemRef, MarksRoom, Saved
from mailboxes.itemtypes import TYPES
from mailboxes.models import Alert, ExchangeSyncIdMapping

if TYPE_CHECKING:
    from mailboxes.connectors.base import ItemConnector, MailboxConnector
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext

logger = logging.getLogger(__name__)

CHUNK = 100  # marks a connector call; the flags of each call are cleared before the next
PROGRESS_LABEL = "record ids written on items"
# Refusals of an item's mark (counted with the push's on the mapping) before it is given up.
MAX_ATTEMPTS = 3
GAVE_UP = "stamp_refused"  # the mapping's `last_error_code`, and the mailbox alert's code
DEFERRED = "stamps_deferred"  # the mailbox alert's code while marks wait for the budget


def write_pending_stamps(
    mailbox: Mailbox, connector: MailboxConnector, ctx: CycleContext, budget: int | None = None
) -> int:
    """Write up to `budget` pending marks of the mailbox, oldest first, as far as the
    server's request budget allows (`room_for_marks`); how many were written. Those whose
    record is gone (deleted in the CRM since the pull) are dropped."""
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
    deferred: MarksRoom | None = None
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
        start = 0
        while start < len(todo) and deferred is None:
            ctx.heartbeat()
            chunk = todo[start : start + CHUNK]
            room = connector.room_for_marks()
            if room is not None and room.items < len(chunk):
                chunk = chunk[: max(0, room.items)]
                if not chunk:
                    deferred = room
                    break
            done, missed = write_now(mailbox, items, chunk)
            start += len(chunk)
            written += len(done)
            failed += missed
            ctx.report_progress(PROGRESS_LABEL, written + failed, len(rows))
    ctx.add_processed(written)
    ctx.add_failed(failed)
    if deferred is not None:
        _say_deferred(mailbox, ctx, deferred, written + failed, len(rows))
    else:
        Alert.objects.filter(mailbox=mailbox, code=DEFERRED, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now()
        )
    return written


def _say_deferred(
    mailbox: Mailbox, ctx: CycleContext, room: MarksRoom, done: int, total: int
) -> None:
    """The marks left wait for the server's budget: say so in the progress and in one
    information alert of the mailbox (kept up to date while it is not acknowledged)."""
    left = ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, stamp_pending=True).count()
    when = timezone.localtime(room.from_at).strftime("%H:%M %Z")
    ctx.report_progress(f"{PROGRESS_LABEL} (the rest deferred to {when})", done, total)
    logger.info(
        "mailbox %s: %s record ids deferred to %s (the server's request budget)",
        mailbox.pk,
        left,
        when,
    )
    message = (
        f"The CRM record ids of {left} items of {mailbox.email_address} are written on them "
        f"from about {when}, over the next cycles: the mail service allows an application "
        f"{settings.CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES:,} requests per mailbox in 10 "
        "minutes, and crmsync keeps a quarter of them for the mailbox's own changes, which "
        "go on syncing meanwhile. The records are linked already; nothing is needed from you."
    )
    _upsert_alert(mailbox, DEFERRED, Alert.Severity.INFO, message)


def _upsert_alert(mailbox: Mailbox, code: str, severity: str, message: str) -> None:
    """One unacknowledged alert of this code for the mailbox, its message brought up to date."""
    open_ = Alert.objects.filter(mailbox=mailbox, code=code, acknowledged_at__isnull=True)
    if not open_.update(message=message, severity=severity):
        Alert.objects.create(mailbox=mailbox, code=code, severity=severity, message=message)


def write_now(
    mailbox: Mailbox, items: ItemConnector, members: Sequence[tuple[int, int, str]]
) -> tuple[set[int], int]:
    """Write these marks ((mapping pk, record id, item id)) and clear the flags of those
    written or gone; (the pks written, how many were refused). A refused mark counts an
    attempt on its mapping and is given up after `MAX_ATTEMPTS`. A throttled one (or one met
    by a server error) is raised, after the others are recorded, and stays pending; so does
    every mark of a call that failed as a whole."""
    if not members:
        return set(), 0
    results = items.stamp([(ItemRef(item_id, ""), record_id) for _, record_id, item_id in members])
    done: set[int] = set()
    gone: set[int] = set()
    refused: dict[int, tuple[int, Exception]] = {}
    postponed: list[TransientSyncError] = []
    for (pk, record_id, _), result in zip(members, results, strict=True):
        if isinstance(result, Saved):
            done.add(pk)
        elif isinstance(result, ItemNotFoundError):
            gone.add(pk)
        elif isinstance(result, TransientSyncError):
            postponed.append(result)
        else:
            refused[pk] = (record_id, result)
    if done or gone:
        ExchangeSyncIdMapping.objects.filter(pk__in=done | gone).update(stamp_pending=False)
    if refused:
        _count_refusals(mailbox, refused)
    if postponed:
        raise _postponement(postponed)
    return done, len(refused)


def _postponement(errors: list[TransientSyncError]) -> TransientSyncError:
    """The error that postpones the mailbox for these marks: the longest Retry-After."""
    hints = [e.retry_after for e in errors if e.retry_after is not None]
    first = errors[0]
    return TransientSyncError(
        f"{len(errors)} record ids not written on their items: {first.message}",
        code=first.code,
        retry_after=max(hints) if hints else None,
        kind=first.kind,
    )


def _count_refusals(mailbox: Mailbox, refused: dict[int, tuple[int, Exception]]) -> None:
    """An attempt more on each refused mark's mapping; those at `MAX_ATTEMPTS` are given up
    (the mapping stays) and the mailbox's alert says how many are."""
    now = timezone.now()
    for pk, (record_id, error) in refused.items():
        logger.warning(
            "mailbox %s: could not mark the item of record %s: %s", mailbox.pk, record_id, error
        )
        ExchangeSyncIdMapping.objects.filter(pk=pk).update(
            retries=F("retries") + 1,
            last_error_text=f"The record id could not be written on the item: {error}"[:2000],
            last_error_code=str(getattr(error, "code", "") or type(error).__name__)[:100],
            last_error_at=now,
        )
    given_up = ExchangeSyncIdMapping.objects.filter(pk__in=list(refused), retries__gte=MAX_ATTEMPTS)
    if not given_up.update(stamp_pending=False, last_error_code=GAVE_UP):
        return
    total = ExchangeSyncIdMapping.objects.filter(mailbox=mailbox, last_error_code=GAVE_UP).count()
    _upsert_alert(
        mailbox,
        GAVE_UP,
        Alert.Severity.WARNING,
        f"The mail server refused the CRM record id on {total} items of "
        f"{mailbox.email_address} {MAX_ATTEMPTS} times; crmsync no longer writes it. Their "
        "records stay linked and synced by the item's id, but an item moved to another "
        "folder is no longer followed. The sync records (id mappings) with the error "
        f"“{GAVE_UP}” name each item and the server's answer.",
    )
