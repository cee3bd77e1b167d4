"""Moving a mailbox from an Exchange (EWS) profile to a Microsoft 365 (Graph) profile without
losing a link: `manage.py move_mailbox_to_graph` and the admin action call `move_to_graph`.

- The mailbox is claimed first (no cycle runs meanwhile; a busy one is refused).
- Id mappings are re-linked by the CRM record id the EWS side stamped on every item it
  created or linked (the named property `CrmRecordId`, which Graph filters on:
  `singleValueExtendedProperties/any(ep: ep/id eq '...' and ep/value eq '...')`), twenty
  look-ups per `$batch`, through the Graph connector's `find_stamped`: each mapping gets the
  item's immutable Graph id. `translateExchangeIds` is not used: Microsoft's reference lists
  no application permission for it (https://learn.microsoft.com/graph/api/
  user-translateexchangeids: "Application: Not supported"), and a Microsoft 365 profile
  authenticates as an application. An item not found in its folder (moved to another folder,
  deleted, or never stamped) keeps its EWS id; the next sync finds it by its stamp in the
  type's other folders and re-links it, or sees it gone. A type the application has no role
  for keeps its links for that re-link too, and the result says so.
- To Do tasks: Graph v1.0's todoTask has no extended properties, so the EWS stamp is not
  seen there; a task is found by its EWS id in URL-safe form (the REST id, as for folders;
  the answer gives its immutable id), then given crmsync's open extension with its record
  id (`connectors/graph/converters/tasks.py`), by which later resyncs re-link it.
- Folder ids: a mapping's folder becomes its Graph (REST) id, the EWS id in URL-safe base64
  (folders have no immutable ids; their ids are constant). Tracking folders are resolved
  against the Inbox's folders listed over Graph: by that id, else by the path the EWS folder
  listing recorded (or the folder's name); the listing is replaced by the Graph one.
- The EWS folder sync states are deleted: Graph delta queries start from scratch and, item
  by item, find the mappings (or the stamped CRM ids) again: nothing is duplicated.
- Outgoing email keeps its state: sent email stays sent (its send stamp is on the email,
  not on the profile); nothing is sent again. The mailbox is due at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.utils import timezone

from mailboxes.channels import EXCHANGE_SERVER_TYPES
from mailboxes.connectors.base import FolderNotFoundError, ItemRef, Saved
from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.connectors.graph.listing import inbox_mail_folders
from mailboxes.connectors.mail_base import ListedFolder
from mailboxes.connectors.settings import graph_settings
from mailboxes.folder_listing import MAX_LISTED_FOLDERS
from mailboxes.itemtypes import TYPES
from mailboxes.models import (
    ExchangeFolderListing,
    ExchangeSyncIdMapping,
    FolderSyncState,
    Mailbox,
    MailboxTrackingFolder,
)
from mailboxes.sync import eligibility, scheduling
from mailboxes.sync.errors import PermanentSyncError
from profiles.models import EmailServerProfile

logger = logging.getLogger(__name__)

LOOKUP_CHUNK = 200  # mappings looked up between two progress reports
Progress = Callable[[int, int], None]
# A 403 on one type's folder (connectors/graph/errors): the token lacks that type's role.
ROLE_REFUSALS = ("missing_role", "access_denied")
# (pk, object type, CRM record id, EWS folder id) of one mapping.
MappingRow = tuple[int, str, int, str]


class MoveRefused(Exception):
    """The move cannot start; the message says why and what to do."""


@dataclass
class MoveResult:
    mappings: int = 0
    relinked: int = 0
    left_for_relink: int = 0
    folder_states_reset: int = 0
    tracking_folders: int = 0
    tracking_unresolved: list[str] = field(default_factory=list)
    types_refused: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        text = (
            f"{self.relinked} of {self.mappings} links re-linked to Graph ids by the CRM id, "
            f"{self.left_for_relink} left to be re-linked on the next sync, "
            f"{self.folder_states_reset} folder sync states reset, "
            f"{self.tracking_folders} tracking folders kept"
        )
        if self.tracking_unresolved:
            text += f" ({', '.join(self.tracking_unresolved)} not found over Graph)"
        for item_type, why in sorted(self.types_refused.items()):
            what = (
                "mail folders not listed" if item_type == "email" else f"{item_type}s not looked up"
            )
            text += f"; {what}: {why}"
        return text


def rest_folder_id(ews_id: str) -> str:
    """A folder's (or an item's) Graph (REST) id: its EWS id in URL-safe base64."""
    return ews_id.replace("/", "-").replace("+", "_")


def check_move(mailbox: Mailbox, target: EmailServerProfile) -> None:
    source = mailbox.profile
    if source is None or source.server_type not in EXCHANGE_SERVER_TYPES:
        raise MoveRefused(
            f"{mailbox.email_address} is not on an Exchange (EWS) profile; nothing to move."
        )
    if not target.is_graph:
        raise MoveRefused(f"The profile “{target}” is not a Microsoft 365 (Graph) profile.")
    if not target.is_active:
        raise MoveRefused(f"The profile “{target}” is not active.")


def move_to_graph(
    mailbox: Mailbox,
    target: EmailServerProfile,
    *,
    progress: Progress | None = None,
    client: GraphClient | None = None,
) -> MoveResult:
    """Move the mailbox to `target`, keeping its links (see the module's docstring)."""
    check_move(mailbox, target)
    claim = None
    if eligibility.may_connect(mailbox):
        claim = scheduling.claim_mailbox(mailbox.pk, respect_limit=False)
        if claim is None:
            raise MoveRefused(
                f"{mailbox.email_address} is being synchronized; try again in a minute."
            )
    try:
        result = _move_claimed(mailbox, target, progress, client)
    finally:
        if claim is not None:
            scheduling.release_claim(claim, next_due_at=timezone.now())
    logger.info("mailbox %s moved to profile %s: %s", mailbox.pk, target.pk, result.describe())
    return result


def _move_claimed(
    mailbox: Mailbox,
    target: EmailServerProfile,
    progress: Progress | None,
    client: GraphClient | None,
) -> MoveResult:
    client = client or GraphClient(graph_settings(target, mailbox))
    rows: list[MappingRow] = list(
        ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).values_list(
            "pk", "object_type", "crm_object_id", "exchange_folder_id"
        )
    )
    result = MoveResult(mappings=len(rows))
    try:
        found = relink(GraphMailboxConnector(client), rows, result, progress)
        listed = list_folders(client, result)
    except PermanentSyncError as exc:
        raise MoveRefused(f"Graph refused the mailbox: {exc.message}") from exc
    old_listing = ExchangeFolderListing.objects.filter(mailbox=mailbox).first()
    with transaction.atomic():
        relinked, moved_folders = [], []
        for pk, _, _, folder_id in rows:
            mapping = ExchangeSyncIdMapping(pk=pk, exchange_folder_id=rest_folder_id(folder_id))
            ref = found.get(pk)
            if ref is None:
                moved_folders.append(mapping)
            else:
                mapping.exchange_item_id = ref.id
                relinked.append(mapping)
        ExchangeSyncIdMapping.objects.bulk_update(
            relinked, ["exchange_item_id", "exchange_folder_id"], batch_size=500
        )
        ExchangeSyncIdMapping.objects.bulk_update(
            moved_folders, ["exchange_folder_id"], batch_size=500
        )
        result.relinked = len(found)
        result.left_for_relink = result.mappings - result.relinked
        result.folder_states_reset, _ = FolderSyncState.objects.filter(
            mailbox=mailbox, protocol=FolderSyncState.Protocol.EWS
        ).delete()
        paths = {
            str(f.get("id")): str(f.get("path") or "")
            for f in (old_listing.folders if old_listing is not None else [])
        }
        folders = list(MailboxTrackingFolder.objects.filter(mailbox=mailbox))
        if listed is None:  # no mail role: the folders keep their REST ids, unchecked
            for tracking in folders:
                tracking.exchange_folder_id = rest_folder_id(tracking.exchange_folder_id)
        else:
            result.tracking_unresolved = resolve_tracking_folders(folders, paths, listed)
        MailboxTrackingFolder.objects.bulk_update(folders, ["exchange_folder_id"])
        result.tracking_folders = len(folders)
        ExchangeFolderListing.objects.update_or_create(
            mailbox=mailbox,
            defaults={
                "folders": [asdict(folder) for folder in listed or ()],
                "listed_at": timezone.now() if listed is not None else None,
                "error_text": "",
                "error_at": None,
            },
        )
        Mailbox.objects.filter(pk=mailbox.pk).update(
            profile=target, idle_cycles=0, transient_failure_count=0
        )
    mailbox.refresh_from_db()
    return result


def relink(
    connector: GraphMailboxConnector,
    rows: list[MappingRow],
    result: MoveResult,
    progress: Progress | None,
) -> dict[int, ItemRef]:
    """{mapping pk: the Graph item carrying its CRM record id in the mapping's folder}."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for pk, object_type, record_id, folder_id in rows:
        if object_type in TYPES:
            groups[(object_type, rest_folder_id(folder_id))].append((pk, record_id))
    found: dict[int, ItemRef] = {}
    done = 0
    for (object_type, folder_id), members in sorted(groups.items()):
        kind = TYPES[object_type]
        items = connector.items(kind)
        folder = folder_id or kind.default_folder
        for start in range(0, len(members), LOOKUP_CHUNK):
            chunk = members[start : start + LOOKUP_CHUNK]
            done += len(chunk)
            if object_type in result.types_refused:
                continue
            try:
                stamped = items.find_stamped(folder, sorted({rid for _, rid in chunk}))
            except FolderNotFoundError:
                logger.info("folder %s is gone over Graph: its links re-link later", folder)
                break
            except PermanentSyncError as exc:
                if exc.code not in ROLE_REFUSALS:
                    raise
                # The application lacks this type's role: its links wait for the re-link.
                result.types_refused[object_type] = exc.message
                continue
            for pk, record_id in chunk:
                ref = stamped.get(record_id)
                if ref is not None:
                    found[pk] = ref
            if progress is not None:
                progress(done, len(rows))
    by_id = [
        (pk, record_id)
        for pk, object_type, record_id, _ in rows
        if pk not in found
        and object_type in TYPES
        and object_type not in result.types_refused
        and not connector.items(TYPES[object_type]).reads_ews_stamp
    ]
    if by_id:
        found.update(relink_by_id(connector, rows, dict(by_id)))
    if progress is not None:
        progress(len(rows), len(rows))
    return found


def relink_by_id(
    connector: GraphMailboxConnector, rows: list[MappingRow], record_ids: dict[int, int]
) -> dict[int, ItemRef]:
    """{mapping pk: its item} for the mappings of types whose EWS stamp Graph cannot read:
    found by their EWS item ids, then stamped as Graph allows."""
    types = {pk: object_type for pk, object_type, _, _ in rows}
    ews_ids = dict(
        ExchangeSyncIdMapping.objects.filter(pk__in=record_ids).values_list(
            "pk", "exchange_item_id"
        )
    )
    found: dict[int, ItemRef] = {}
    for object_type in sorted({types[pk] for pk in record_ids}):
        items = connector.items(TYPES[object_type])
        wanted = {pk: rest_folder_id(ews_ids[pk]) for pk in record_ids if types[pk] == object_type}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = dict(list(wanted.items())[start : start + LOOKUP_CHUNK])
            refs = items.find_by_rest_ids(chunk)
            results = items.stamp([(ref, record_ids[pk]) for pk, ref in refs.items()])
            for (pk, ref), stamped in zip(refs.items(), results, strict=True):
                if isinstance(stamped, Saved):
                    found[pk] = ref
    return found


def list_folders(client: GraphClient, result: MoveResult) -> list[ListedFolder] | None:
    """The Inbox's folders over Graph; None when the application has no mail role."""
    try:
        return inbox_mail_folders(client, limit=MAX_LISTED_FOLDERS)
    except PermanentSyncError as exc:
        if exc.code not in ROLE_REFUSALS:
            raise
        result.types_refused["email"] = exc.message
        return None


def resolve_tracking_folders(
    folders: list[MailboxTrackingFolder], paths: dict[str, str], listed: list[ListedFolder]
) -> list[str]:
    """Give each tracking folder its Graph id (in place); the names of those not found."""
    by_id = {folder.id: folder for folder in listed}
    by_path: dict[str, ListedFolder] = {}
    for folder in listed:
        by_path.setdefault(folder.path.casefold(), folder)
    taken: set[str] = set()
    unresolved = []
    for tracking in folders:
        rest = rest_folder_id(tracking.exchange_folder_id)
        match = by_id.get(rest)
        if match is None:
            path = paths.get(tracking.exchange_folder_id) or tracking.exchange_folder_name
            match = by_path.get(path.casefold())
        if match is None or match.id in taken:
            unresolved.append(tracking.exchange_folder_name)
            tracking.exchange_folder_id = rest
        else:
            tracking.exchange_folder_id = match.id
        taken.add(tracking.exchange_folder_id)
    return unresolved
