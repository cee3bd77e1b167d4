"""Claims: which worker holds a row, for every row that only one worker may work on at a time
(a mailbox during its cycle, an email while it is sent). One protocol for all of them.

A claim is three columns of the row: who holds it (a token naming the worker, new for every
claim), since when, and until when. Every step is one conditional UPDATE whose row count
tells the caller what happened, so no two workers ever both believe they hold a row:

- `take`: only a row whose claim is free or expired (and that matches the caller's other
  conditions) is claimed;
- `hand_over`: a holder's token (or any token a condition picks, such as every dispatcher's)
  is swapped for another (the dispatcher's claim for the task's), only while it is live;
- `renew`: the holder pushes the expiry on; a row count of 0 means another worker took the
  row over after our claim expired, and we must stop writing;
- `release`: the holder gives the row back, writing its results in the same statement.

A worker that dies holds nothing for long: its claim expires and the next `take` wins it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet


def new_token(prefix: str = "") -> str:
    """A token naming this worker (admins see who holds a row), unique per claim."""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}/{uuid.uuid4().hex[:12]}"[:200]


@dataclass(frozen=True)
class ClaimColumns:
    """Where a model keeps its claim, and how long a claim lasts.

    `until` is the expiry column; a model without one (`None`) holds a claim for
    `seconds()` after `since`, and renewing moves `since` on.
    """

    holder: str
    since: str
    until: str | None
    seconds: Callable[[], float]

    def _lapse(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds())

    def free_q(self, now: datetime) -> Q:
        """Rows nobody holds, or whose claim has expired."""
        if self.until is not None:
            return Q(**{f"{self.until}__isnull": True}) | Q(**{f"{self.until}__lte": now})
        stale = now - timedelta(seconds=self.seconds())
        return Q(**{f"{self.since}__isnull": True}) | Q(**{f"{self.since}__lte": stale})

    def held_q(self, now: datetime) -> Q:
        """Rows whose claim is live."""
        if self.until is not None:
            return Q(**{f"{self.until}__gt": now})
        return Q(**{f"{self.since}__gt": now - timedelta(seconds=self.seconds())})

    def _claimed(self, token: str, now: datetime) -> dict[str, Any]:
        fields: dict[str, Any] = {self.holder: token, self.since: now}
        if self.until is not None:
            fields[self.until] = self._lapse(now)
        return fields

    def released(self) -> dict[str, Any]:
        """The claim columns of a row nobody holds."""
        fields: dict[str, Any] = {self.holder: "", self.since: None}
        if self.until is not None:
            fields[self.until] = None
        return fields

    def take(self, rows: QuerySet[Any], token: str, now: datetime, **fields: Any) -> int:
        """Claim those of `rows` that are free for `token`; how many were won."""
        return rows.filter(self.free_q(now)).update(**self._claimed(token, now), **fields)

    def hand_over(self, rows: QuerySet[Any], old: str | Q, new: str, now: datetime) -> int:
        """Swap the live claim `old` (a token, or a condition on the holder) for `new`; how
        many rows changed hands."""
        holder = Q(**{self.holder: old}) if isinstance(old, str) else old
        return rows.filter(self.held_q(now)).filter(holder).update(**self._claimed(new, now))

    def renew(self, rows: QuerySet[Any], token: str, now: datetime) -> bool:
        """Push the expiry of our claim on; False when it is no longer ours."""
        renewed = {self.until: self._lapse(now)} if self.until is not None else {self.since: now}
        return rows.filter(**{self.holder: token}).update(**renewed) > 0

    def release(self, rows: QuerySet[Any], token: str, **fields: Any) -> int:
        """Give back the rows `token` holds, writing `fields` in the same statement."""
        return rows.filter(**{self.holder: token}).update(**self.released(), **fields)
