"""Moving a mailbox from an Exchange (EWS) profile to a Microsoft 365 (Graph) profile without
losing a link: `manage.py move_mailbox_to_graph` and the admin action call `move_to_graph`.

- The mailbox is claimed first (no cycle runs meanwhile; a busy one is refused).
- Id mappings: their EWS item ids are translated to the immutable Graph ids the Graph
  connector asks for (`POST /users/{id}/translateExchangeIds`, `ewsId` →
  `restImmutableEntryId`, 1,000 ids a request: https://learn.microsoft.com/graph/api/
  user-translateexchangeids). An id Graph cannot translate (the item moved, so its EWS id is
  stale, or was deleted) keeps its EWS id; the next sync finds the item by the CRM id stamped
  in its extended property and re-links it, or sees it gone. When Graph refuses the call
  altogether (the documentation lists no application permission for it: a tenant may answer
  403), every mapping is left for that re-link, and the move goes on.
- Folder ids (mappings' folders, tracking folders) become Graph's REST ids: the EWS id in
  URL-safe base64 (`translateExchangeIds` takes item ids only).
- The EWS folder sync states are deleted: Graph delta queries start from scratch and, item
  by item, find the mappings (or the stamped CRM ids) again: nothing is duplicated.
- Outgoing email keeps its state: sent email stays sent (its send stamp is on the email,
  not on the profile); nothing is sent again.
- The folder listing (EWS ids) is cleared; the mailbox is due at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.graph.errors import GraphRequestError
from mailboxes.connectors.settings import graph_settings
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

TRANSLATE_BATCH = 1000  # Graph's maximum of inputIds
EWS_SERVER_TYPES = (
    EmailServerProfile.ServerType.EXCHANGE,
    EmailServerProfile.ServerType.EXCHANGE_ONLINE,
)
Progress = Callable[[int, int], None]
# 403s that concern this call only (no application permission is documented for it).
REFUSED_CODES = ("access_denied", "missing_role")


class MoveRefused(Exception):
    """The move cannot start; the message says why and what to do."""


@dataclass
class MoveResult:
    mappings: int = 0
    translated: int = 0
    left_for_relink: int = 0
    folder_states_reset: int = 0
    tracking_folders: int = 0
    translation_refused: str = ""

    def describe(self) -> str:
        text = (
            f"{self.translated} of {self.mappings} links translated to Graph ids, "
            f"{self.left_for_relink} left to be re-linked by the CRM id on the next sync, "
            f"{self.folder_states_reset} folder sync states reset, "
            f"{self.tracking_folders} tracking folders kept"
        )
        if self.translation_refused:
            text += f" (Graph refused translateExchangeIds: {self.translation_refused})"
        return text


def rest_folder_id(ews_id: str) -> str:
    """A folder's Graph (REST) id: its EWS id in URL-safe base64."""
    return ews_id.replace("/", "-").replace("+", "_")


def check_move(mailbox: Mailbox, target: EmailServerProfile) -> None:
    source = mailbox.profile
    if source is None or source.server_type not in EWS_SERVER_TYPES:
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
    rows = list(
        ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).values_list(
            "pk", "exchange_item_id", "exchange_folder_id"
        )
    )
    result = MoveResult(mappings=len(rows))
    translated = translate(client, [item_id for _, item_id, _ in rows], result, progress)
    with transaction.atomic():
        changed = []
        for pk, item_id, folder_id in rows:
            mapping = ExchangeSyncIdMapping(pk=pk, exchange_item_id=item_id)
            mapping.exchange_item_id = translated.get(item_id, item_id)
            mapping.exchange_folder_id = rest_folder_id(folder_id)
            changed.append(mapping)
        ExchangeSyncIdMapping.objects.bulk_update(
            changed, ["exchange_item_id", "exchange_folder_id"], batch_size=500
        )
        result.translated = sum(1 for _, item_id, _ in rows if item_id in translated)
        result.left_for_relink = result.mappings - result.translated
        result.folder_states_reset, _ = FolderSyncState.objects.filter(
            mailbox=mailbox, protocol=FolderSyncState.Protocol.EWS
        ).delete()
        folders = list(MailboxTrackingFolder.objects.filter(mailbox=mailbox))
        for folder in folders:
            folder.exchange_folder_id = rest_folder_id(folder.exchange_folder_id)
        MailboxTrackingFolder.objects.bulk_update(folders, ["exchange_folder_id"])
        result.tracking_folders = len(folders)
        ExchangeFolderListing.objects.filter(mailbox=mailbox).update(folders=[], listed_at=None)
        Mailbox.objects.filter(pk=mailbox.pk).update(
            profile=target, idle_cycles=0, transient_failure_count=0
        )
    mailbox.refresh_from_db()
    return result


def translate(
    client: GraphClient, ews_ids: list[str], result: MoveResult, progress: Progress | None
) -> dict[str, str]:
    """EWS item id → immutable Graph id, for the ids Graph could translate."""
    found: dict[str, str] = {}
    wanted = sorted({item_id for item_id in ews_ids if item_id})
    for start in range(0, len(wanted), TRANSLATE_BATCH):
        chunk = wanted[start : start + TRANSLATE_BATCH]
        try:
            answer = client.post(
                "translateExchangeIds",
                {
                    "inputIds": chunk,
                    "sourceIdType": "ewsId",
                    "targetIdType": "restImmutableEntryId",
                },
            )
        except (GraphRequestError, PermanentSyncError) as exc:
            if not isinstance(exc, GraphRequestError) and exc.code not in REFUSED_CODES:
                # The application cannot reach the mailbox at all: nothing is moved.
                raise MoveRefused(f"Graph refused the mailbox: {exc.message}") from exc
            result.translation_refused = exc.code
            logger.warning("translateExchangeIds refused (%s): links re-linked by CRM id", exc)
            return found
        for entry in (answer or {}).get("value") or ():
            target = entry.get("targetId")
            if target and entry.get("sourceId") in chunk:
                found[str(entry["sourceId"])] = str(target)
        if progress is not None:
            progress(min(start + TRANSLATE_BATCH, len(wanted)), len(wanted))
    return found
