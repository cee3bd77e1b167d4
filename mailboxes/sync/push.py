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
import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from activities.models import ActivityParty, Appointment, ChangeOrigin
from mailboxes.connectors.ews import ItemConflictError, ItemNotFoundError, classify
from mailboxes.connectors.ews.converters import Canonical, fingerprint
from mailboxes.connectors.ews.converters.appointments import ATTENDEE_ROLES
from mailboxes.connectors.ews.folders import delete_items, open_folder, save_changes, save_new
from mailboxes.connectors.ews.occurrences import push_exceptions
from mailboxes.connectors.ews.stamp import stamp
from mailboxes.models import ChangeType, ExchangeSyncIdMapping
from mailboxes.sync.context import CycleContext
from mailboxes.sync.errors import SyncError, TransientSyncError
from mailboxes.sync.records import TypeSync

logger = logging.getLogger(__name__)

# Records modified this long before the last cycle began are looked at again (clock skew
# between web and worker machines); unchanged ones are skipped by fingerprint.
WATERMARK_MARGIN = timedelta(minutes=2)
CHUNK = 100
Decision = ExchangeSyncIdMapping.UserDecision


def push_changes(ts: TypeSync, ctx: CycleContext, *, initial: bool) -> None:
    # One query for both kinds of flagged mappings: deleted in the CRM, or to overwrite
    # Exchange (a conflict resolved for the CRM).
    marked = list(
        ts.mappings().filter(from_crm_change_type__in=[ChangeType.DELETE, ChangeType.UPDATE])
    )
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
        flagged = [m.crm_object_id for m in marked if m.from_crm_change_type == ChangeType.UPDATE]
        forced = Q(pk__in=flagged)
        if ts.converter.has_series:
            # A series whose exception (a child appointment) was changed in the CRM.
            forced |= Q(
                pk__in=Appointment.objects.filter(
                    ts.owner_filter(), series_master__isnull=False, modified_at__gte=since
                )
                .exclude(change_origin=ChangeOrigin.SYNC, change_origin_mailbox=ts.mailbox)
                .values("series_master_id")
            )
        candidates = (
            ts.records()
            .filter(Q(modified_at__gte=since) | forced)
            .exclude(Q(change_origin=ChangeOrigin.SYNC, change_origin_mailbox=ts.mailbox) & ~forced)
        )
    ids = list(candidates.order_by("pk").values_list("pk", flat=True))
    done = 0
    for start in range(0, len(ids), CHUNK):
        ctx.heartbeat()
        chunk = list(candidates.filter(pk__in=ids[start : start + CHUNK]).order_by("pk"))
        _push_chunk(ts, chunk, initial=initial, full=ctx.full_resync)
        done += len(chunk)
        ctx.report_progress(f"{ts.converter.item_type}s to Exchange", done, len(ids))
    if ts.options.export_pending:
        # Done, unless the option widened again meanwhile.
        type(ts.options).objects.filter(
            pk=ts.options.pk, invitations_from=ts.options.invitations_from
        ).update(export_pending=False)


def _exported(ts: TypeSync, record: Any) -> bool:
    return ts.converter.exports(record, ts.options)


def _push_chunk(ts: TypeSync, records: list[Any], *, initial: bool, full: bool) -> None:
    converter = ts.converter
    mappings = {
        m.crm_object_id: m for m in ts.mappings().filter(crm_object_id__in=[r.pk for r in records])
    }
    folder = open_folder(ts.account, converter.distinguished_folder)
    creates: list[tuple[Any, Any, str]] = []
    updates: list[tuple[Any, ExchangeSyncIdMapping, Any, str]] = []
    series: dict[int, Canonical] = {}  # recurring masters with exceptions to write after them
    for record in records:
        mapping = mappings.get(record.pk)
        if mapping is not None and (
            mapping.is_deleted_in_exchange or mapping.user_decision == Decision.PENDING
        ):
            continue
        if mapping is None and not _exported(ts, record):
            continue
        canonical = converter.record_canonical(record)
        crm_fp = fingerprint(canonical)
        if canonical.get("recurrence") and (
            canonical["modified_occurrences"] or canonical["deleted_occurrences"]
        ):
            series[record.pk] = canonical
        if mapping is None:
            if converter.keeps_ical_uid and not record.ical_uid:
                # Our own UID lets a retry after a crash find the item it created.
                record.ical_uid = f"crmsync-{uuid.uuid4()}"
                Appointment.objects.filter(pk=record.pk).update(ical_uid=record.ical_uid)
            item = converter.build_item(canonical, stamp_categories=ts.stamp, folder=folder)
            if converter.keeps_ical_uid:
                item.uid = record.ical_uid
            stamp(item, record.pk)  # a move gives the item a new id; this finds it again
            creates.append((record, item, crm_fp))
            continue
        if crm_fp == mapping.crm_fingerprint and mapping.from_crm_change_type != ChangeType.UPDATE:
            continue
        item = converter.build_item(canonical, stamp_categories=ts.stamp, folder=folder)
        item.id, item.changekey = mapping.exchange_item_id, mapping.change_key
        updates.append((record, mapping, item, crm_fp))
    # Who hears of it: the rule in README ("Meeting invitations").
    notify = {r.pk for r, _, _ in creates if _invites(ts, r, initial=initial, full=full)}
    notify |= {r.pk for r, mapping, _, _ in updates if _updates_reach(ts, r, mapping)}
    for send in (False, True):
        _create(ts, folder, [c for c in creates if (c[0].pk in notify) == send], send=send)
        _update(ts, [u for u in updates if (u[0].pk in notify) == send], send=send)
    if series:
        written = (
            ts.mappings()
            .filter(crm_object_id__in=list(series))
            .exclude(exchange_item_id__startswith="pending:")
        )
        for mapping in written:
            _push_exceptions(ts, folder, mapping, series[mapping.crm_object_id], notify)


def _push_exceptions(
    ts: TypeSync,
    folder: Any,
    mapping: ExchangeSyncIdMapping,
    canonical: Canonical,
    notify: set[int],
) -> None:
    """The series' modified and deleted occurrences, once the series itself is written."""
    try:
        push_exceptions(
            folder,
            mapping.exchange_item_id,
            canonical,
            delete_mode=ts.options.exchange_delete_mode,
            send=mapping.crm_object_id in notify,
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


def invitations_from_now(ts: TypeSync) -> None:
    """Meetings the CRM holds now are exported without invitations (a first sync, an option
    that widened what this mailbox exports)."""
    now = timezone.now()
    ts.options.invitations_from = now
    type(ts.options).objects.filter(pk=ts.options.pk).update(invitations_from=now)


def _attendees(ts: TypeSync, record: Any) -> set[str]:
    """The attendees (lower-case addresses) of a meeting this mailbox organizes (no
    organizer, or the mailbox's own address); none for anything else."""
    if not ts.converter.has_parties:
        return set()
    parties = list(record.parties.all())
    organizer = next((p for p in parties if p.role == ActivityParty.Role.ORGANIZER), None)
    if organizer is not None and organizer.address.lower() != ts.mailbox.email_address.lower():
        return set()
    return {p.address.lower() for p in parties if p.role in ATTENDEE_ROLES.values() and p.address}


def _invites(ts: TypeSync, record: Any, *, initial: bool, full: bool) -> bool:
    """Whether exporting this new record sends meeting requests: only for a meeting created
    in the CRM after the first sync and after the last option change, never in the first
    sync or a full resync, never when the mailbox's "send invitations" is off."""
    if initial or full or not ts.mailbox.send_invitations:
        return False
    since = ts.options.invitations_from
    if since is not None and record.created_at < since:
        return False
    return bool(_attendees(ts, record))


def _updates_reach(ts: TypeSync, record: Any, mapping: ExchangeSyncIdMapping) -> bool:
    """Whether a change sends meeting updates: only to a meeting its attendees received from
    this mailbox before (Exchange then writes to the attendees the change concerns)."""
    if not ts.mailbox.send_invitations:
        return False
    return bool(_attendees(ts, record) & set(mapping.invited or []))


def _create(ts: TypeSync, folder: Any, creates: list[tuple[Any, Any, str]], *, send: bool) -> None:
    if not creates:
        return
    results = save_new([item for _, item, _ in creates], folder, send_invitations=send)
    now = timezone.now()
    new_mappings = []
    for (record, item, crm_fp), result in zip(creates, results, strict=True):
        if isinstance(result, BaseException):
            _item_failed(ts, None, result, record)
            continue
        item_id, change_key = _id_of(result)
        new_mappings.append(
            ExchangeSyncIdMapping(
                mailbox=ts.mailbox,
                object_type=ts.converter.item_type,
                crm_content_type=ts.content_type,
                crm_object_id=record.pk,
                exchange_item_id=item_id,
                change_key=change_key,
                ical_uid=(getattr(item, "uid", None) or "")[:512],
                exchange_folder_id=ts.converter.distinguished_folder,
                crm_fingerprint=crm_fp,
                crm_modified_at=record.modified_at,
                from_crm_change_type=ChangeType.CREATE,
                item_subject=str(record)[:500],
                invited=sorted(_attendees(ts, record)) if send else [],
                last_synced_at=now,
            )
        )
    # ignore_conflicts: a pull that ran meanwhile may already have linked the new item.
    ExchangeSyncIdMapping.objects.bulk_create(new_mappings, ignore_conflicts=True)
    ts.processed += len(new_mappings)


def _update(
    ts: TypeSync, updates: list[tuple[Any, ExchangeSyncIdMapping, Any, str]], *, send: bool
) -> None:
    if not updates:
        return
    fields = list(ts.converter.update_fields)
    results = save_changes(
        [(item, fields) for _, _, item, _ in updates], ts.account, send_updates=send
    )
    now = timezone.now()
    done = []
    for (record, mapping, _, crm_fp), result in zip(updates, results, strict=True):
        if isinstance(result, BaseException):
            _item_failed(ts, mapping, result, record)
            continue
        _, change_key = _id_of(result)
        mapping.change_key = change_key
        mapping.crm_fingerprint = crm_fp
        mapping.crm_modified_at = record.modified_at
        mapping.from_crm_change_type = ChangeType.NONE
        mapping.retries = 0
        mapping.last_error_text = ""
        mapping.last_error_code = ""
        mapping.last_synced_at = now
        if send:
            # Exchange also sent the meeting to attendees added since.
            mapping.invited = sorted(set(mapping.invited or []) | _attendees(ts, record))
        done.append(mapping)
    ExchangeSyncIdMapping.objects.bulk_update(
        done,
        [
            "change_key",
            "crm_fingerprint",
            "crm_modified_at",
            "from_crm_change_type",
            "retries",
            "last_error_text",
            "last_error_code",
            "last_synced_at",
            "invited",
        ],
    )
    ts.processed += len(done)


def _id_of(result: Any) -> tuple[str, str]:
    if isinstance(result, tuple):
        return str(result[0]), str(result[1] or "")
    return str(result.id), str(result.changekey or "")


def _item_failed(
    ts: TypeSync, mapping: ExchangeSyncIdMapping | None, error: BaseException, record: Any
) -> None:
    """One item refused: keep going with the others, remember why on the mapping."""
    translated = classify(error)
    if isinstance(translated, TransientSyncError):
        raise translated  # the server is busy: stop the cycle, retry later
    if isinstance(translated, ItemNotFoundError) and mapping is not None:
        from mailboxes.sync.pull import exchange_deleted

        with transaction.atomic():
            exchange_deleted(ts, [mapping])
        return
    if isinstance(translated, ItemConflictError):
        # Changed in Exchange since our pull: the next pull reconciles it.
        return
    ts.failed += 1
    logger.warning(
        "mailbox %s: %s %s refused: %s", ts.mailbox.pk, ts.converter.item_type, record.pk, error
    )
    if mapping is not None:
        code = translated.code if isinstance(translated, SyncError) else type(error).__name__
        ExchangeSyncIdMapping.objects.filter(pk=mapping.pk).update(
            retries=mapping.retries + 1,
            last_error_text=str(error)[:2000],
            last_error_code=code[:100],
            last_error_at=timezone.now(),
        )


def push_deletes(ts: TypeSync, ctx: CycleContext, doomed: list[ExchangeSyncIdMapping]) -> None:
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
        # A cancellation reaches a meeting's attendees only if they were sent the meeting.
        cancel = {m.pk for m in live if m.invited and ts.mailbox.send_invitations}
        live.sort(key=lambda m: m.pk in cancel)
        for start in range(0, len(live), CHUNK):
            ctx.heartbeat()
            chunk = live[start : start + CHUNK]
            for send in (False, True):
                part = [m for m in chunk if (m.pk in cancel) == send]
                _delete(ts, part, send_cancellations=send)
    ExchangeSyncIdMapping.objects.filter(pk__in=[m.pk for m in doomed]).delete()
    ts.processed += len(doomed)


def _delete(
    ts: TypeSync, mappings: list[ExchangeSyncIdMapping], *, send_cancellations: bool
) -> None:
    if mappings:
        results = delete_items(
            ts.account,
            [(m.exchange_item_id, None) for m in mappings],
            mode=ts.options.exchange_delete_mode,
            send_cancellations=send_cancellations,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                classify(result), ItemNotFoundError
            ):
                translated = classify(result)
                if translated is not None and not translated.permanent:
                    raise translated
                logger.warning("mailbox %s: delete refused: %s", ts.mailbox.pk, result)
