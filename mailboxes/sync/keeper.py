"""Keeps a cycle's mailbox claim alive while the cycle waits on a mail server.

A claim lasts `CRMSYNC_CLAIM_SECONDS` (90 s) and the cycle renews it between pages of work
(`CycleContext.heartbeat`). One call to a server may take up to the profile's connection
timeout (120 s by default) per read, longer than the claim: without help the claim would
expire in the middle of the call and another worker could take the mailbox while the first
still talks to the server. `ClaimKeeper` renews it from a thread of the same process every
third of the claim, so:

- while the worker lives, its claim never lapses, however long a single call takes;
- when the worker dies (SIGKILL, the machine stops) the thread dies with it, renewals stop
  and the mailbox is taken over once the claim expires, as before;
- a cycle that reaches no heartbeat for `stall_seconds` (stuck, not merely slow: several
  connection timeouts long) is no longer renewed, so a hung worker cannot hold a mailbox
  for ever.

The thread only renews. Whether the claim was lost is decided by the cycle's own thread at
its next heartbeat (with its own database connection, the one its writes go through).
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection

from mailboxes.sync import scheduling
from mailboxes.sync.scheduling import Claim, ClaimLost

logger = logging.getLogger(__name__)


class ClaimKeeper:
    def __init__(self, claim: Claim, *, stall_seconds: float) -> None:
        self.claim = claim
        self.stall_seconds = stall_seconds
        self.progress_at = time.monotonic()
        self.renewed_at = time.monotonic()
        self.renewals = 0
        # The thread could not renew (the claim looked gone): the cycle checks for itself.
        self.doubt = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"claim-keeper-{claim.mailbox_id}", daemon=True
        )

    def start(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def progress(self) -> None:
        """The cycle reached a heartbeat."""
        self.progress_at = time.monotonic()

    def renewed(self) -> None:
        self.renewed_at = time.monotonic()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._period() / 3):
                now = time.monotonic()
                if now - self.progress_at > self.stall_seconds:
                    logger.warning(
                        "mailbox %s: no progress for %.0f s; its claim is left to expire",
                        self.claim.mailbox_id,
                        now - self.progress_at,
                    )
                    return
                if now - self.renewed_at < self._period():
                    continue
                try:
                    scheduling.extend_claim(self.claim)
                except ClaimLost:
                    self.doubt = True
                    continue
                except Exception:
                    # The database is away for a moment, or our connection was killed: try
                    # again at the next tick, on a new connection.
                    logger.warning(
                        "mailbox %s: claim not renewed", self.claim.mailbox_id, exc_info=True
                    )
                    connection.close()
                    continue
                self.renewals += 1
                self.renewed()
        finally:
            connection.close()

    @staticmethod
    def _period() -> float:
        """How often the claim is renewed: a third of its life."""
        return scheduling.claim_seconds() / 3
