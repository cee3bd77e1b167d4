"""CRM → Exchange: records created, changed or deleted since the last push.

Candidates are the owner's records modified since the last successful ACT cycle began (less
a margin for clocks), those a conflict resolved for the CRM, and mappings whose record was
deleted. A change made by this mailbox's own sync is never sent back; a record whose
fingerprint equals the mapping's is skipped. Updates carry the change key we last saw, so an
item changed in Exchange meanwhile is refused (ErrorIrresolvableConflict) and left for the
next pull to reconcile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from activities.models import ChangeOrigin
from mailboxes.connectors.base import (
    Canonical,
    DeleteMode,
    ItemChange,
    ItemConflictError,
    ItemNotFoundError,
    ItemRef,
    NewItem,
    Saved,
)
from mailboxes.itemtypes.common import R, fingerprint
from mailboxes.models import ChangeType, ExchangeSyncIdMapping
from mailboxes.sync.context import CycleContext
from mailboxes.sync.errors import SyncError, TransientSyncError
from mailboxes.sync.held import HELD_CHANGE, HELD_DELETE, hold
from mailboxes.sync.pull import exchange_deleted
from mailboxes.sync.records import TypeSync

logger = logging.getLogger(__name__)

# Records modified this long before the last cycle began are looked at again (clock skew
# between web and worker machines); unchanged ones are skipped by fingerprint.
WATERMARK_MARGIN = timedelta(minutes=2)
CHUNK = 100
Decision = ExchangeSyncIdMapping.UserDecision


def push_changes(
    ts: TypeSync[R], ctx: CycleContext, *, initial: bool, settle: Callable[[], object] | None = None
) -> None:
    """Send the CRM's changes of the type to the server. `settle` is called once before
    the first of them is read and sent (the pull's marks in flight change the items'
    change keys), not at all when there is nothing to send."""
    # One query for both kinds of flagged mappings: deleted in the CRM, or to overwrite
    # Exchange (a conflict resolved for the CRM).
    flagged_kinds = [ChangeType.DELETE, ChangeType.UPDATE]
    flagged_mappings = ts.mappings().filter(from_crm_change_type__in=flagged_kinds)
    # Whether there are any first: the usual answer is no, and the question is cheaper
    # than reading whole rows.
    marked = list(flagged_mappings) if flagged_mappings.exists() else []
    settled = False
    if marked and settle is not None:
        settle()
        settled = True
        marked = list(flagged_mappings)
    push_deletes(ts, ctx, [m for m in marked if m.from_crm_change_type == ChangeType.DELETE])
    if not ts.options.crm_to_exchange:
        return
    if initial:
        # What the CRM holds when the first sync runs is exported without invitations.
        invitations_from_now(ts)
    candidates = ts.records().exclude(
        change_origin=ChangeOrigin.SYNC, change_origin_mailbox=ts.mailbox
    )
    watermark = ts.mailbox.act_processed_at
    if watermark is not None and not ctx.full_resync and not ts.options.export_pending:
        since = watermark - WATERMARK_MARGIN
        if not marked and not _changed_since(ts, since):
            return  # an idle cycle: nothing to send
        flagged = [m.crm_object_id for m in marked if m.from_crm_change_type == ChangeType.UPDATE]
        forced = Q(pk__in=flagged)
        # A series whose exception (a child record) was changed in the CRM.
        masters = ts.kind.masters_of_changed_children(
            ts.owner_filter()
            & Q(modified_at__gte=since)
            & ~Q(change_origin=ChangeOrigin.SYNC, change_origin_mailbox=ts.mailbox)
        )
        if masters is not None:
            forced |= Q(pk__in=masters)
        candidates = (
            ts.records()
            .filter(Q(modified_at__gte=since) | forced)
            .exclude(Q(change_origin=ChangeOrigin.SYNC, change_origin_mailbox=ts.mailbox) & ~forced)
        )
    ids = list(candidates.order_by("pk").values_list("pk", flat=True))
    if ids and settle is not None and not settled:
        settle()
    done = 0
    for start in range(0, len(ids), CHUNK):
        ctx.heartbeat()
        chunk = list(candidates.filter(pk__in=ids[start : start + CHUNK]).order_by("pk"))
        _push_chunk(ts, chunk, initial=initial, full=ctx.full_resync)
        done += len(chunk)
        ctx.report_progress(f"{ts.kind.item_type}s to Exchange", done, len(ids))
    if ts.options.export_pending:
        # Done, unless the option widened again meanwhile.
        type(ts.options).objects.filter(
            pk=ts.options.pk, invitations_from=ts.options.invitations_from
        ).update(export_pending=False)


def _changed_since(ts: TypeSync[R], since: datetime) -> bool:
    """Whether any of the owner's records of the type (series' exceptions included, which
    the push's candidates are not) changed since `since`, other than by this mailbox's
    sync: one cheap query, for the usual answer, before the push's candidates are built."""
    return (
        ts.model._default_manager.filter(ts.owner_filter(), modified_at__gte=since)
        .exclude(change_origin=ChangeOrigin.SYNC, change_origin_mailbox=ts.mailbox)
        .exists()
    )


def _exported(ts: TypeSync[R], record: R) -> bool:
    return ts.kind.exports(record, ts.options)


@dataclass
class _Create(Generic[R]):
    record: R
    item: NewItem
    crm_fp: str
    canonical: Canonical


@dataclass
class _Update(Generic[R]):
    record: R
    mapping: ExchangeSyncIdMapping
    change: ItemChange
    crm_fp: str
    canonical: Canonical


def _push_chunk(ts: TypeSync[R], records: list[R], *, initial: bool, full: bool) -> None:
    kind = ts.kind
    mappings = {
        m.crm_object_id: m for m in ts.mappings().filter(crm_object_id__in=[r.pk for r in records])
    }
    creates: list[_Create[R]] = []
    updates: list[_Update[R]] = []
    series: dict[int, Canonical] = {}  # recurring masters with exceptions to write after them
    for record in records:
        mapping = mappings.get(record.pk)
        if mapping is not None and (
            mapping.is_deleted_in_exchange or mapping.user_decision == Decision.PENDING
        ):
            continue
        if mapping is None and (
            not _exported(ts, record) or getattr(record, "is_cancelled", False)
        ):
            continue  # a cancelled meeting is not written to Exchange
        canonical = kind.record_canonical(record)
        crm_fp = fingerprint(canonical)
        if canonical.get("recurrence") and (
            canonical["modified_occurrences"] or canonical["deleted_occurrences"]
        ):
            series[record.pk] = canonical
        if mapping is None:
            # The item carries its record's id: a move gives it a new id, this finds it again.
            item = NewItem(ts.for_server(canonical), record.pk, kind.ensure_ical_uid(record))
            creates.append(_Create(record, item, crm_fp, canonical))
            continue
        if crm_fp == mapping.crm_fingerprint and mapping.from_crm_change_type != ChangeType.UPDATE:
            continue
        ref = ItemRef(mapping.exchange_item_id, mapping.change_key)
        change = ItemChange(ref, ts.for_server(canonical))
        updates.append(_Update(record, mapping, change, crm_fp, canonical))
    cancelled = [u for u in updates if _cancels(ts, u.canonical)]
    updates = [u for u in updates if u not in cancelled]
    _cancel(ts, cancelled)
    # Who hears of it: the rule in README ("Meeting invitations").
    notify = {c.record.pk for c in creates if _invites(ts, c, initial=initial, full=full)}
    notify |= {u.record.pk for u in updates if _update_sends(ts, u, initial=initial, full=full)}
    held = [u for u in updates if u.record.pk not in notify and _would_tell(ts, u)]
    hold(ts, [u.mapping for u in held], HELD_CHANGE)
    updates = [u for u in updates if u not in held]
    for send in (False, True):
        _create(ts, [c for c in creates if (c.record.pk in notify) == send], send=send)
        _update(ts, [u for u in updates if (u.record.pk in notify) == send], send=send)
    if series:
        written = (
            ts.mappings()
            .filter(crm_object_id__in=list(series))
            .exclude(exchange_item_id__startswith="pending:")
            .exclude(pk__in=[u.mapping.pk for u in held])
        )
        for mapping in written:
            _push_exceptions(ts, mapping, series[mapping.crm_object_id], notify)


def _push_exceptions(
    ts: TypeSync[R],
    mapping: ExchangeSyncIdMapping,
    canonical: Canonical,
    notify: set[int],
) -> None:
    """The series' modified and deleted occurrences, once the series itself is written."""
    try:
        ts.connector.write_exceptions(
            ts.kind.default_folder,
            mapping.exchange_item_id,
            canonical,
            mode=DeleteMode(ts.options.exchange_delete_mode),
            notify=mapping.crm_object_id in notify,
        )
    except SyncError as exc:
        if isinstance(exc, TransientSyncError):
            raise
        ts.failed += 1
        logger.warning(
            "mailbox %s: exceptions of series %s refused: %s",
            ts.mailbox.pk,
            mapping.crm_object_id,
            exc,
        )


def invitations_from_now(ts: TypeSync[R]) -> None:
    """Meetings the CRM holds now are exported without invitations (a first sync, an option
    that widened what this mailbox exports)."""
    now = timezone.now()
    ts.options.invitations_from = now
    type(ts.options).objects.filter(pk=ts.options.pk).update(invitations_from=now)


def _attendees(ts: TypeSync[R], canonical: Canonical) -> set[str]:
    """The attendees (lower-case addresses) of a meeting this mailbox organizes."""
    return ts.kind.invitees(canonical, ts.mailbox.email_address)


def _invites(ts: TypeSync[R], create: _Create[R], *, initial: bool, full: bool) -> bool:
    """Whether exporting this new record sends meeting requests: only for a meeting created
    in the CRM after the first sync and after the last option change, never in the first
    sync or a full resync, never when the mailbox's "send invitations" is off."""
    if initial or full or not ts.mailbox.send_invitations:
        return False
    since = ts.options.invitations_from
    if since is not None and create.record.created_at < since:
        return False
    return bool(_attendees(ts, create.canonical))


def _reaches(ts: TypeSync[R], mapping: ExchangeSyncIdMapping) -> bool:
    """Whether a change or cancellation of this meeting is sent: only when attendees received
    it from this mailbox before (the server then writes to the attendees the change
    concerns: those who hold it, those added, those removed)."""
    return bool(mapping.invited) and ts.mailbox.send_invitations


def _newcomers(ts: TypeSync[R], update: _Update[R]) -> set[str]:
    """Attendees the CRM added since the meeting was last written: neither sent it nor
    written with it unsent."""
    mapping = update.mapping
    return _attendees(ts, update.canonical) - set(mapping.invited) - set(mapping.withheld)


def _update_sends(ts: TypeSync[R], update: _Update[R], *, initial: bool, full: bool) -> bool:
    """Whether writing this change sends meeting messages: to a meeting its attendees were
    sent; to attendees a person added in the CRM to a meeting nobody holds unsent (an
    appointment given attendees), as for a new meeting (`_invites`). A meeting written
    unsent stays unsent: its changes send nothing, added attendees included."""
    if _reaches(ts, update.mapping):
        return True
    if not ts.mailbox.send_invitations or update.mapping.withheld or initial or full:
        return False
    since = ts.options.invitations_from
    if since is not None and update.record.modified_at < since:
        return False  # changed before the first sync or the last option change
    return bool(_newcomers(ts, update))


def _would_tell(ts: TypeSync[R], update: _Update[R]) -> bool:
    """Whether writing this change silently is beyond the server: over Graph, a PATCH of a
    meeting that is no draft (sent, or an appointment given attendees) writes to them."""
    if ts.connector.silent_meeting_changes:
        return False
    mapping = update.mapping
    unsent = not mapping.invited and mapping.withheld  # a draft: its PATCH sends nothing
    return not unsent and bool(mapping.invited or _attendees(ts, update.canonical))


def _cancels(ts: TypeSync[R], canonical: Canonical) -> bool:
    """Whether this change cancels a meeting (or appointment) this mailbox organizes."""
    if not canonical.get("is_cancelled"):
        return False
    organizer = canonical.get("organizer")
    own = ts.mailbox.email_address.strip().lower()
    return organizer is None or organizer["address"] == own


def _cancel(ts: TypeSync[R], cancels: list[_Update[R]]) -> None:
    """Meetings cancelled in the CRM: cancelled in Exchange for the attendees who were sent
    them (once: the mapping goes, the cancelled record stays and is never exported again),
    removed from the calendar silently when nobody was."""
    mode = DeleteMode(ts.options.exchange_delete_mode)
    held = [u for u in cancels if _held_delete(ts, u.mapping)]
    hold(ts, [u.mapping for u in held], HELD_DELETE)
    cancels = [u for u in cancels if u not in held]
    for send in (False, True):
        part = [u for u in cancels if _reaches(ts, u.mapping) == send]
        if not part:
            continue
        results = ts.connector.delete(
            [u.mapping.exchange_item_id for u in part], mode=mode, notify=send
        )
        gone = []
        for update, result in zip(part, results, strict=True):
            if result is None or isinstance(result, ItemNotFoundError):
                gone.append(update.mapping.pk)
            else:
                _item_failed(ts, update.mapping, result, update.record)
        ExchangeSyncIdMapping.objects.filter(pk__in=gone).delete()
        ts.processed += len(gone)


def _create(ts: TypeSync[R], creates: list[_Create[R]], *, send: bool) -> None:
    if not creates:
        return
    folder_id = ts.kind.default_folder
    results = ts.connector.create(folder_id, [c.item for c in creates], notify=send)
    now = timezone.now()
    new_mappings = []
    for create, result in zip(creates, results, strict=True):
        record = create.record
        if not isinstance(result, Saved):
            _item_failed(ts, None, result, record)
            continue
        new_mappings.append(
            ExchangeSyncIdMapping(
                mailbox=ts.mailbox,
                object_type=ts.kind.item_type,
                crm_content_type=ts.content_type,
                crm_object_id=record.pk,
                exchange_item_id=result.id,
                change_key=result.change_key,
                ical_uid=create.item.ical_uid[:512],
                exchange_folder_id=folder_id,
                crm_fingerprint=create.crm_fp,
                crm_modified_at=record.modified_at,
                from_crm_change_type=ChangeType.CREATE,
                item_subject=str(record)[:500],
                invited=sorted(_attendees(ts, create.canonical)) if send else [],
                withheld=[] if send else sorted(_attendees(ts, create.canonical)),
                last_synced_at=now,
            )
        )
    # ignore_conflicts: a pull that ran meanwhile may already have linked the new item.
    ExchangeSyncIdMapping.objects.bulk_create(new_mappings, ignore_conflicts=True)
    ts.processed += len(new_mappings)


def _update(ts: TypeSync[R], updates: list[_Update[R]], *, send: bool) -> None:
    if not updates:
        return
    results = ts.connector.update([u.change for u in updates], notify=send)
    now = timezone.now()
    done = []
    for update, result in zip(updates, results, strict=True):
        mapping, record = update.mapping, update.record
        if not isinstance(result, Saved):
            _item_failed(ts, mapping, result, record)
            continue
        if result.id and result.id != mapping.exchange_item_id:
            # The server answered another item: completing an occurrence of a recurring
            # task makes a one-off task that holds the change, and the series moves on to
            # its next occurrence ("UpdateItem operation (task)"). The record follows the
            # one-off; the series comes back with the next pull as a record of its own.
            mapping.exchange_item_id = result.id
        mapping.change_key = result.change_key
        mapping.crm_fingerprint = update.crm_fp
        mapping.crm_modified_at = record.modified_at
        mapping.from_crm_change_type = ChangeType.NONE
        mapping.retries = 0
        mapping.last_error_text = ""
        mapping.last_error_code = ""
        mapping.last_synced_at = now
        attendees = _attendees(ts, update.canonical)
        if send:
            # The server also sent the meeting to attendees added since.
            mapping.invited = sorted(set(mapping.invited) | attendees)
            mapping.withheld = sorted(set(mapping.withheld) - attendees)
        else:
            mapping.withheld = sorted(set(mapping.withheld) | (attendees - set(mapping.invited)))
        done.append(mapping)
    ExchangeSyncIdMapping.objects.bulk_update(
        done,
        [
            "exchange_item_id",
            "change_key",
            "crm_fingerprint",
            "crm_modified_at",
            "from_crm_change_type",
            "retries",
            "last_error_text",
            "last_error_code",
            "last_synced_at",
            "invited",
            "withheld",
        ],
    )
    ts.processed += len(done)


def _item_failed(
    ts: TypeSync[R], mapping: ExchangeSyncIdMapping | None, error: SyncError, record: R
) -> None:
    """One item refused: keep going with the others, remember why on the mapping."""
    if isinstance(error, TransientSyncError):
        raise error  # the server is busy: stop the cycle, retry later
    if isinstance(error, ItemNotFoundError) and mapping is not None:
        with transaction.atomic():
            exchange_deleted(ts, [mapping])
        return
    if isinstance(error, ItemConflictError):
        # Changed on the server since our pull: the next pull reconciles it.
        return
    ts.failed += 1
    logger.warning(
        "mailbox %s: %s %s refused: %s", ts.mailbox.pk, ts.kind.item_type, record.pk, error
    )
    if mapping is not None:
        ExchangeSyncIdMapping.objects.filter(pk=mapping.pk).update(
            retries=mapping.retries + 1,
            last_error_text=str(error)[:2000],
            last_error_code=error.code[:100],
            last_error_at=timezone.now(),
        )


def push_deletes(ts: TypeSync[R], ctx: CycleContext, doomed: list[ExchangeSyncIdMapping]) -> None:
    """Records deleted in the CRM (`doomed`: their mappings): delete their items in Exchange
    where enabled, else unlink."""
    if not doomed:
        return
    existing = set(
        ts.model._default_manager.filter(pk__in=[m.crm_object_id for m in doomed]).values_list(
            "pk", flat=True
        )
    )
    doomed = [m for m in doomed if m.crm_object_id not in existing]
    if ts.options.delete_crm_to_exchange:
        live = [m for m in doomed if not m.is_deleted_in_exchange]
        held = [m for m in live if _held_delete(ts, m)]
        hold(ts, held, HELD_DELETE)
        live = [m for m in live if m not in held]
        doomed = [m for m in doomed if m not in held]
        # A cancellation reaches a meeting's attendees only if they were sent the meeting.
        cancel = {m.pk for m in live if _reaches(ts, m)}
        live.sort(key=lambda m: m.pk in cancel)
        for start in range(0, len(live), CHUNK):
            ctx.heartbeat()
            chunk = live[start : start + CHUNK]
            for send in (False, True):
                part = [m for m in chunk if (m.pk in cancel) == send]
                _delete(ts, part, send_cancellations=send)
    ExchangeSyncIdMapping.objects.filter(pk__in=[m.pk for m in doomed]).delete()
    ts.processed += len(doomed)


def _held_delete(ts: TypeSync[R], mapping: ExchangeSyncIdMapping) -> bool:
    """Whether deleting this meeting silently is beyond the server: over Graph, deleting a
    meeting its attendees were sent cancels it for them."""
    return (
        not ts.connector.silent_meeting_changes
        and bool(mapping.invited)
        and not ts.mailbox.send_invitations
    )


def _delete(
    ts: TypeSync[R], mappings: list[ExchangeSyncIdMapping], *, send_cancellations: bool
) -> None:
    if not mappings:
        return
    results = ts.connector.delete(
        [m.exchange_item_id for m in mappings],
        mode=DeleteMode(ts.options.exchange_delete_mode),
        notify=send_cancellations,
    )
    for result in results:
        if result is None or isinstance(result, ItemNotFoundError):
            continue
        if not result.permanent:
            raise result
        logger.warning("mailbox %s: delete refused: %s", ts.mailbox.pk, result)
