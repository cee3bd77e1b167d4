"""At most N concurrent Graph requests per mailbox across the installation.

Outlook resources on Graph allow 4 concurrent requests per application and mailbox; a fifth
is answered 429 (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
Every worker process takes a slot before a request and gives it back after, so the
installation as a whole never asks more of one mailbox than Microsoft allows.

The slots live in Redis (the Celery broker, or `CRMSYNC_REDIS_URL`): one sorted set per
mailbox whose members are the slots taken, scored by the time their lease ends, and a Lua
script that drops expired leases, counts and takes a slot in one step. A worker killed while
holding a slot loses it when the lease runs out (the request timeout and a margin). Without
Redis (the embedded broker of a one-machine installation) the slots are counted in the
process only: the limit then holds per worker process, not across them.

When no slot frees up within a short wait, the request is not made: `TransientSyncError`
(THROTTLED) postpones the mailbox, so that a worker never sits blocked on a busy mailbox.

The same keeper counts the mailbox's requests against Microsoft's other limit per
application and mailbox, 10,000 API requests in a 10 minute period (the page above, "Limits
per app ID and mailbox combination"; each request of a `$batch` counts, as Graph evaluates
them one by one, https://learn.microsoft.com/graph/throttling#throttling-and-batching): a
request given back adds its cost to the mailbox's count of the current minute, one Redis hash
per mailbox, and the last ten minutes and the current one are summed (a sliding window a
minute wide, which never counts less than Microsoft's window holds). A request that would
take the sum past `CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES`, less the largest cost that may
still be in flight uncounted, is not made: THROTTLED again, postponed until the oldest
minute leaves the window, whatever triggered the cycle (beat, a webhook, a person); the
wait is no failure (`RequestBudgetSpent`: a large first sync meets it cycle after cycle). The
CRM ids written on items (`mailboxes/sync/stamps.py`) spend only what leaves a quarter of
the window for reading and writing the user's changes (`room`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from mailboxes.connectors import ErrorKind, TransientSyncError, network_error

# The mailbox's request count per minute, summed over the window (`room`).
WINDOW_SECONDS = 600
MINUTE = 60
# What may be in flight and not counted yet (a request is counted when it is given back):
# one `$batch` of 20 (`client.MAX_BATCH`) in the mailbox's four slots.
IN_FLIGHT = 20
# The share of the window the marks may fill; the rest is kept for the user's changes.
MARKS_SHARE = 0.75

# KEYS[1]: the mailbox's slots, KEYS[2]: its requests per minute. ARGV: now (ms), lease end
# (ms), limit, slot id, key ttl (ms), slots wanted (members "<slot id>:<n>"), the most
# requests the window may hold before this one (0: not counted), the first minute counted.
# Answers 1 (taken), 0 (no free slot) or -1 - the oldest minute counted (the window is full).
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local most = tonumber(ARGV[7])
if most > 0 then
  local first = tonumber(ARGV[8])
  local counts = redis.call('HGETALL', KEYS[2])
  local used, oldest = 0, nil
  for i = 1, #counts, 2 do
    local minute = tonumber(counts[i])
    if minute < first then
      redis.call('HDEL', KEYS[2], counts[i])
    else
      used = used + tonumber(counts[i + 1])
      if oldest == nil or minute < oldest then oldest = minute end
    end
  end
  if used > most then return -1 - oldest end
end
local wanted = tonumber(ARGV[6])
if redis.call('ZCARD', KEYS[1]) + wanted <= tonumber(ARGV[3]) then
  for n = 1, wanted do
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4] .. ':' .. n)
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""
# KEYS as above; ARGV: cost, the current minute, the slots' members.
_GIVE_BACK = """
if #ARGV > 2 then redis.call('ZREM', KEYS[1], unpack(ARGV, 3)) end
local cost = tonumber(ARGV[1])
if cost > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], cost)
  redis.call('EXPIRE', KEYS[2], 720)
end
return 1
"""
KEY_PREFIX = "crmsync:graph:slots:"
WINDOW_PREFIX = "crmsync:graph:requests:"


class WindowFull(Exception):
    """The mailbox's requests of the window are spent; `seconds` until the oldest minute
    counted leaves it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"window full for {seconds:.0f} s")
        self.seconds = seconds


@dataclass
class Held:
    """Slots held for a request (`count`) and its cost in requests, counted when they are
    given back (a `$batch` sets it to its requests)."""

    count: int
    cost: int = 1


@dataclass(frozen=True)
class Room:
    """What the window leaves the mailbox: `requests` more, and `frees_in` seconds until the
    oldest minute counted leaves it (0 when none is counted)."""

    requests: int
    frees_in: float


def _minute(now: float) -> int:
    return int(now // MINUTE)


def _first_counted(now: float) -> int:
    """The oldest minute still counted: the ten before the current one, so that the sum
    never holds less than the last ten minutes."""
    return _minute(now) - WINDOW_SECONDS // MINUTE


def _frees_in(oldest: int, now: float) -> float:
    """Seconds until `oldest` is no longer counted."""
    return max(1.0, (oldest + WINDOW_SECONDS // MINUTE + 1) * MINUTE - now)


class Slots(Protocol):
    limit: int

    def try_take(
        self, mailbox: str, lease_seconds: float, count: int = 1, most: int = 0
    ) -> str | None:
        """A slot id, or None when no slot is free; `WindowFull` when the window holds
        more than `most` requests (0: not checked)."""
        ...

    def give_back(self, mailbox: str, slot: str, count: int = 1, cost: int = 0) -> None: ...
    def taken(self, mailbox: str) -> int: ...
    def counted(self, mailbox: str) -> tuple[int, float]:
        """(requests in the window, seconds until its oldest minute leaves it)."""
        ...


class RedisSlots:
    """Slots shared by every process that reaches the same Redis database."""

    def __init__(self, url: str, limit: int) -> None:
        import redis

        self.limit = limit
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._take = self.client.register_script(_TAKE)
        self._give_back = self.client.register_script(_GIVE_BACK)

    def try_take(
        self, mailbox: str, lease_seconds: float, count: int = 1, most: int = 0
    ) -> str | None:
        slot = uuid.uuid4().hex
        clock = time.time()
        now = int(clock * 1000)
        lease_ms = int(lease_seconds * 1000)
        taken = int(
            self._call(
                self._take,
                [KEY_PREFIX + mailbox, WINDOW_PREFIX + mailbox],
                [
                    now,
                    now + lease_ms,
                    self.limit,
                    slot,
                    lease_ms,
                    count,
                    most,
                    _first_counted(clock),
                ],
            )
        )
        if taken < 0:
            raise WindowFull(_frees_in(-1 - taken, clock))
        return slot if taken == 1 else None

    def give_back(self, mailbox: str, slot: str, count: int = 1, cost: int = 0) -> None:
        members = [f"{slot}:{n}" for n in range(1, count + 1)]
        self._call(
            self._give_back,
            [KEY_PREFIX + mailbox, WINDOW_PREFIX + mailbox],
            [cost, _minute(time.time()), *members],
        )

    def counted(self, mailbox: str) -> tuple[int, float]:
        clock = time.time()
        first = _first_counted(clock)
        counts = self._call(self.client.hgetall, WINDOW_PREFIX + mailbox)
        kept = {int(k): int(v) for k, v in counts.items() if int(k) >= first}
        return sum(kept.values()), _frees_in(min(kept), clock) if kept else 0.0

    def taken(self, mailbox: str) -> int:
        key = KEY_PREFIX + mailbox
        self._call(self.client.zremrangebyscore, key, "-inf", int(time.time() * 1000))
        return int(self._call(self.client.zcard, key))

    @staticmethod
    def _call(function: Any, *args: Any) -> Any:
        import redis

        try:
            return function(*args)
        except redis.RedisError as e:
            raise network_error("Redis (Graph request slots)", e) from None


class LocalSlots:
    """Slots of this process only (no Redis configured)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = defaultdict(set)
        self._counts: dict[str, dict[int, int]] = defaultdict(dict)

    def try_take(
        self, mailbox: str, lease_seconds: float, count: int = 1, most: int = 0
    ) -> str | None:
        with self._lock:
            if most > 0:
                used, frees_in = self._counted(mailbox, time.time())
                if used > most:
                    raise WindowFull(frees_in)
            held = self._held[mailbox]
            if len(held) + count > self.limit:
                return None
            slot = uuid.uuid4().hex
            held.update(f"{slot}:{n}" for n in range(1, count + 1))
            return slot

    def give_back(self, mailbox: str, slot: str, count: int = 1, cost: int = 0) -> None:
        with self._lock:
            self._held[mailbox].difference_update(f"{slot}:{n}" for n in range(1, count + 1))
            if cost > 0:
                counts = self._counts[mailbox]
                minute = _minute(time.time())
                counts[minute] = counts.get(minute, 0) + cost

    def taken(self, mailbox: str) -> int:
        with self._lock:
            return len(self._held[mailbox])

    def counted(self, mailbox: str) -> tuple[int, float]:
        with self._lock:
            return self._counted(mailbox, time.time())

    def _counted(self, mailbox: str, clock: float) -> tuple[int, float]:
        counts = self._counts[mailbox]
        first = _first_counted(clock)
        for minute in [m for m in counts if m < first]:
            del counts[minute]
        return sum(counts.values()), _frees_in(min(counts), clock) if counts else 0.0


_slots: Slots | None = None
_slots_lock = threading.Lock()


def _forget() -> None:
    global _slots
    _slots = None


os.register_at_fork(after_in_child=_forget)


def redis_url() -> str:
    url = str(getattr(settings, "CRMSYNC_REDIS_URL", "") or "")
    return url if url.startswith(("redis://", "rediss://", "unix://")) else ""


def slots() -> Slots:
    """The process's slot keeper, chosen from the settings on first use."""
    global _slots
    with _slots_lock:
        if _slots is None:
            limit = int(settings.CRMSYNC_GRAPH_MAX_CONCURRENT_REQUESTS)
            url = redis_url()
            _slots = RedisSlots(url, limit) if url else LocalSlots(limit)
        return _slots


def window_limit() -> int:
    """Requests per mailbox and 10 minutes (CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES)."""
    return int(settings.CRMSYNC_GRAPH_REQUESTS_PER_10_MINUTES)


def room(mailbox: str, *, share: float = 1.0, keeper: Slots | None = None) -> Room:
    """What the mailbox may still spend of `share` of its window, across all workers."""
    keeper = keeper or slots()
    used, frees_in = keeper.counted(mailbox.strip().lower())
    return Room(max(0, int(window_limit() * share) - used), frees_in)


class RequestBudgetSpent(TransientSyncError):
    """The mailbox's requests of the window are spent: it waits, nothing failed (a first
    sync of a large mailbox meets it cycle after cycle, and must not be failed for it)."""

    counts_as_failure = False


def window_full_error(mailbox: str, seconds: float) -> TransientSyncError:
    return RequestBudgetSpent(
        f"{mailbox} has spent the {window_limit():,} Graph requests Microsoft allows an "
        "application per mailbox in 10 minutes; postponed until the oldest leave the window.",
        code="mailbox_request_budget",
        retry_after=seconds,
        kind=ErrorKind.THROTTLED,
    )


@contextlib.contextmanager
def mailbox_slot(
    mailbox: str,
    *,
    lease_seconds: float,
    wait_seconds: float | None = None,
    keeper: Slots | None = None,
    most: int = 1,
) -> Iterator[Held]:
    """Hold up to `most` of the mailbox's request slots for the duration of the block, as
    many as are free (at least one); the block gets how many it holds (`Held.count`). One
    for a request, up to four for a `$batch`, whose requests Graph runs four at a time
    (`client.batch`). The block's requests (`Held.cost`, one unless it says otherwise) are
    counted in the mailbox's window when the slots are given back.

    Polls for a free slot for at most `wait_seconds` (CRMSYNC_GRAPH_SLOT_WAIT_MS), then gives
    up with a THROTTLED error that postpones the mailbox by a second; a window already full
    postpones it until its oldest minute leaves it, at once."""
    keeper = keeper or slots()
    key = mailbox.strip().lower()
    if wait_seconds is None:
        wait_seconds = settings.CRMSYNC_GRAPH_SLOT_WAIT_MS / 1000
    deadline = time.monotonic() + wait_seconds
    pause = 0.01
    count = max(1, min(most, keeper.limit))
    full = max(1, window_limit() - IN_FLIGHT)
    while True:
        try:
            slot = keeper.try_take(key, lease_seconds, count, full)
        except WindowFull as e:
            raise window_full_error(mailbox, e.seconds) from None
        if slot is not None:
            break
        if count > 1:
            count -= 1  # take what is free rather than wait for all of them
            continue
        if time.monotonic() >= deadline:
            raise TransientSyncError(
                f"{mailbox} already has the most concurrent Graph requests Microsoft allows; "
                "postponed.",
                code="mailbox_concurrency",
                retry_after=1.0,
                kind=ErrorKind.THROTTLED,
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    held = Held(count)
    try:
        yield held
    finally:
        keeper.give_back(key, slot, count, held.cost)
