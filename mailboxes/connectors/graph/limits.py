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
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Protocol

from django.conf import settings

from mailboxes.connectors import ErrorKind, TransientSyncError, network_error

# KEYS[1]: the mailbox's set; ARGV: now (ms), lease end (ms), limit, slot id, key ttl (ms),
# slots wanted (members "<slot id>:<n>").
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
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
KEY_PREFIX = "crmsync:graph:slots:"


class Slots(Protocol):
    limit: int

    def try_take(self, mailbox: str, lease_seconds: float, count: int = 1) -> str | None: ...
    def give_back(self, mailbox: str, slot: str, count: int = 1) -> None: ...
    def taken(self, mailbox: str) -> int: ...


class RedisSlots:
    """Slots shared by every process that reaches the same Redis database."""

    def __init__(self, url: str, limit: int) -> None:
        import redis

        self.limit = limit
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._take = self.client.register_script(_TAKE)

    def try_take(self, mailbox: str, lease_seconds: float, count: int = 1) -> str | None:
        slot = uuid.uuid4().hex
        now = int(time.time() * 1000)
        lease_ms = int(lease_seconds * 1000)
        taken = self._call(
            self._take,
            [KEY_PREFIX + mailbox],
            [now, now + lease_ms, self.limit, slot, lease_ms, count],
        )
        return slot if taken == 1 else None

    def give_back(self, mailbox: str, slot: str, count: int = 1) -> None:
        members = [f"{slot}:{n}" for n in range(1, count + 1)]
        self._call(self.client.zrem, KEY_PREFIX + mailbox, *members)

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

    def try_take(self, mailbox: str, lease_seconds: float, count: int = 1) -> str | None:
        with self._lock:
            held = self._held[mailbox]
            if len(held) + count > self.limit:
                return None
            slot = uuid.uuid4().hex
            held.update(f"{slot}:{n}" for n in range(1, count + 1))
            return slot

    def give_back(self, mailbox: str, slot: str, count: int = 1) -> None:
        with self._lock:
            self._held[mailbox].difference_update(f"{slot}:{n}" for n in range(1, count + 1))

    def taken(self, mailbox: str) -> int:
        with self._lock:
            return len(self._held[mailbox])


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


@contextlib.contextmanager
def mailbox_slot(
    mailbox: str,
    *,
    lease_seconds: float,
    wait_seconds: float | None = None,
    keeper: Slots | None = None,
    most: int = 1,
) -> Iterator[int]:
    """Hold up to `most` of the mailbox's request slots for the duration of the block, as
    many as are free (at least one); the block gets how many it holds. One for a request, up
    to four for a `$batch`, whose requests Graph runs four at a time (`client.batch`).

    Polls for a free slot for at most `wait_seconds` (CRMSYNC_GRAPH_SLOT_WAIT_MS), then gives
    up with a THROTTLED error that postpones the mailbox by a second."""
    keeper = keeper or slots()
    key = mailbox.strip().lower()
    if wait_seconds is None:
        wait_seconds = settings.CRMSYNC_GRAPH_SLOT_WAIT_MS / 1000
    deadline = time.monotonic() + wait_seconds
    pause = 0.01
    count = max(1, min(most, keeper.limit))
    while True:
        slot = keeper.try_take(key, lease_seconds, count)
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
    try:
        yield count
    finally:
        keeper.give_back(key, slot, count)
