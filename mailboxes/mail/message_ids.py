"""Message-IDs across a batch: the emails that already carry them, and a lock that
serializes their filing across workers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from django.db import connection

from activities.models import Email

# Message-IDs looked up per query (well below every database's parameter limit).
LOOKUP_CHUNK = 500


def first_emails(message_ids: Sequence[str]) -> dict[str, Email]:
    """The first email (by id) with each of these Message-IDs, without the bodies."""
    found: dict[str, Email] = {}
    for start in range(0, len(message_ids), LOOKUP_CHUNK):
        chunk = message_ids[start : start + LOOKUP_CHUNK]
        for email in (
            Email.objects.filter(message_id__in=chunk)
            .defer("body_text", "body_html")
            .order_by("pk")
        ):
            found.setdefault(email.message_id, email)
    return found


def lock_message_ids(message_ids: Iterable[str]) -> None:
    """Serialize filing of these Message-IDs across workers until the transaction ends.

    PostgreSQL: transaction-level advisory locks, taken in ascending key order so that two
    workers with overlapping batches cannot deadlock. SQLite: every write transaction is
    already exclusive (BEGIN IMMEDIATE in the settings).
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {
            int.from_bytes(hashlib.sha256(m.encode()).digest()[:8], "big", signed=True)
            for m in message_ids
        }
    )
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY k) s",
            [keys],
        )
