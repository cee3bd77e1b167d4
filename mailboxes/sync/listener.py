"""Push: a change stream per mailbox (EWS streaming subscriptions: the `PushListener` of
its protocol, `connectors/registry.py`) that makes its sync run within seconds of a change.
Polling still covers everything if the listener is down; Microsoft 365 mailboxes are pushed
through `mailboxes/webhooks/` instead."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections

from mailboxes import channels
from mailboxes.connectors import registry
from mailboxes.models import Mailbox
from mailboxes.sync import eligibility, scheduling
from mailboxes.sync.errors import PermanentSyncError, SyncError

logger = logging.getLogger(__name__)

# A streaming connection lasts this long (EWS allows 1-30 minutes), then is renewed.
CONNECTION_MINUTES = 10


def enqueue_sync(mailbox_id: int) -> None:
    from mailboxes.tasks import sync_mailbox

    scheduling.make_due_now(mailbox_id)
    sync_mailbox.delay(mailbox_id)


def listen_to_mailbox(
    mailbox_id: int,
    stop: threading.Event,
    on_change: Callable[[int], None] = enqueue_sync,
    *,
    connection_minutes: int = CONNECTION_MINUTES,
) -> None:
    """Hold a streaming subscription on the mailbox's folders until `stop` is set."""
    failures = 0
    while not stop.is_set():
        close_old_connections()
        mailbox = Mailbox.objects.select_related("profile").filter(pk=mailbox_id).first()
        if mailbox is None:
            return
        if not eligibility.may_connect(mailbox):
            logger.info("mailbox %s: listener stops: %s", mailbox_id, eligibility.refusal(mailbox))
            return
        try:
            listen = registry.protocol_of(mailbox.profile).push_listener
            if listen is None:
                logger.info("mailbox %s: listener stops: its protocol has no push", mailbox_id)
                return
            watched = channels.listened(mailbox)
            if not watched:
                logger.info("mailbox %s: listener stops: no channel fed by its server", mailbox_id)
                return
            changes = listen(mailbox, watched, connection_minutes=connection_minutes)
            for kinds in changes:
                if stop.is_set():
                    changes.close()
                    break
                if kinds - {"StatusEvent"}:
                    logger.info("mailbox %s: change pushed (%s)", mailbox_id, sorted(kinds))
                    on_change(mailbox_id)
            failures = 0
        except PermanentSyncError as exc:
            logger.warning("mailbox %s: listener stops: %s", mailbox_id, exc.message)
            return
        except Exception as exc:  # a lost stream, or a defect: log it, back off, renew
            failures += 1
            if not isinstance(exc, SyncError):
                logger.exception("mailbox %s: listener error", mailbox_id)
            exc = exc if isinstance(exc, SyncError) else SyncError(str(exc), code="internal_error")
            delay = min(300, 2**failures)
            logger.info("mailbox %s: stream lost (%s), again in %s s", mailbox_id, exc.code, delay)
            stop.wait(delay)


def listened_mailboxes() -> list[int]:
    """Mailboxes worth a subscription: those that may connect (`eligibility`), on a
    protocol with a push listener, with a channel fed by the server that has not failed."""
    return list(
        Mailbox.objects.filter(
            eligibility.may_connect_q(),
            channels.any_listened_q(),
            profile__server_type__in=registry.server_types_where(lambda p: p.push_listener),
        ).values_list("pk", flat=True)
    )


def serve(stop: threading.Event, *, refresh_seconds: int = 60) -> None:
    """Keep one listening thread per eligible mailbox, refreshing the set periodically."""
    threads: dict[int, tuple[threading.Thread, threading.Event]] = {}
    while not stop.is_set():
        wanted = set(listened_mailboxes())
        for mailbox_id in wanted - threads.keys():
            own = threading.Event()
            thread = threading.Thread(target=listen_to_mailbox, args=(mailbox_id, own), daemon=True)
            thread.start()
            threads[mailbox_id] = (thread, own)
        for mailbox_id in list(threads):
            thread, own = threads[mailbox_id]
            if mailbox_id not in wanted or not thread.is_alive():
                own.set()
                del threads[mailbox_id]
        stop.wait(refresh_seconds)
    for _, own in threads.values():
        own.set()
    time.sleep(0.1)
