"""Benchmark: the activity list endpoint over a large table in PostgreSQL.

    python bench/api_list.py [--quick] [--reseed] [--requests N]

Seeds 1,000,000 appointments (50,000 with --quick), each with an organizer and an attendee,
owned by 500 users and 20 queues, in the dedicated database `crmsync_bench_api` (created and
migrated here; set BENCH_DATABASE_URL to use another server). Then measures
`GET /api/v1/appointments/?owner=<id>&start_after=..&start_before=..&page_size=50` as the
owner, with token authentication, through Django's test client (the whole Django and DRF
stack, no network). A seeded database is reused while it has the expected size.

The figures come last, as one JSON line. Target: p95 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/crmsync_bench_api"
USERS = 500
QUEUES = 20
QUEUE_SHARE = 0.1  # of appointments owned by a queue
EPOCH = datetime(2029, 1, 1, tzinfo=UTC)
SPAN_DAYS = 730
TARGET_P95_MS = 50.0


def configure_django(database_url: str) -> None:
    from cryptography.fernet import Fernet

    # Production-like settings: DEBUG off, so no query log and no debug pages.
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-" + Fernet.generate_key().decode())
    os.environ.setdefault("CRMSYNC_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    os.environ["ALLOWED_HOSTS"] = "localhost"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}", file=sys.stderr)


def seeded_size() -> int:
    from activities.models import Appointment

    return Appointment.objects.count()


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE activities_activityparty, activities_appointment, "
            "authtoken_token, mailboxes_queue_members, mailboxes_queue, users_user CASCADE"
        )


def seed(count: int) -> None:
    from django.db import connection, transaction
    from tqdm import tqdm

    from mailboxes.models import Queue
    from users.models import User

    rng = random.Random(20300101)  # the same data on every run
    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(username=f"bench{i}", email="", password="!", is_active=True)
                for i in range(USERS)
            ],
            batch_size=1000,
        )
        queues = Queue.objects.bulk_create(
            [Queue(name=f"bench-queue-{i}", owner=users[i]) for i in range(QUEUES)]
        )
        Queue.members.through.objects.bulk_create(
            [
                Queue.members.through(queue_id=queue.pk, user_id=user.pk)
                for queue in queues
                for user in rng.sample(users, 10)
            ],
            ignore_conflicts=True,
        )
    user_ids = [u.pk for u in users]
    queue_ids = [q.pk for q in queues]
    now = datetime.now(UTC)

    columns = (
        "owner_user_id, owner_queue_id, created_at, modified_at, change_origin, subject, "
        'categories, location, description, start, "end", is_all_day, time_zone, busy_status, '
        "ical_uid, is_cancelled"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        with raw.copy(f"COPY activities_appointment ({columns}) FROM STDIN") as copy:
            for i in tqdm(range(count), desc="appointments", unit="row", unit_scale=True):
                start = EPOCH + timedelta(minutes=rng.randrange(SPAN_DAYS * 24 * 4) * 15)
                if rng.random() < QUEUE_SHARE:
                    owner_user, owner_queue = None, rng.choice(queue_ids)
                else:
                    owner_user, owner_queue = rng.choice(user_ids), None
                copy.write_row(
                    (
                        owner_user,
                        owner_queue,
                        now,
                        now,
                        "sync",
                        f"Meeting {i}",
                        "[]",
                        "Room 1",
                        "",
                        start,
                        start + timedelta(minutes=30 * rng.randint(1, 4)),
                        False,
                        "Europe/Berlin",
                        "busy",
                        f"bench-{i}@crmsync",
                        False,
                    )
                )
        cursor.execute("SELECT min(id), max(id) FROM activities_appointment")
        first_id, last_id = cursor.fetchone()
        with raw.copy(
            "COPY activities_activityparty (appointment_id, role, address, display_name, "
            "response) FROM STDIN"
        ) as copy:
            for appointment_id in tqdm(
                range(first_id, last_id + 1), desc="parties", unit="row", unit_scale=True
            ):
                copy.write_row((appointment_id, "organizer", "owner@example.test", "", "organizer"))
                copy.write_row(
                    (
                        appointment_id,
                        "required",
                        f"guest{appointment_id % 997}@example.test",
                        "",
                        "accepted",
                    )
                )
        print("analyzing", file=sys.stderr)
        cursor.execute("ANALYZE")


def measure(requests: int) -> dict[str, Any]:
    from django.db.models import Count
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from activities.models import Appointment
    from users.models import User

    rng = random.Random(7)
    busiest = list(
        Appointment.objects.filter(owner_user__isnull=False)
        .values("owner_user")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("owner_user", flat=True)[:50]
    )
    tokens = {
        user.pk: Token.objects.get_or_create(user=user)[0].key
        for user in User.objects.filter(pk__in=busiest)
    }
    client = Client(SERVER_NAME="localhost")
    owners = list(tokens)

    def one_request() -> tuple[float, int, int]:
        owner = rng.choice(owners)
        start = EPOCH + timedelta(days=rng.randrange(SPAN_DAYS - 60))
        end = start + timedelta(days=60)
        url = (
            f"/api/v1/appointments/?owner={owner}&page_size=50"
            f"&start_after={start.isoformat().replace('+00:00', 'Z')}"
            f"&start_before={end.isoformat().replace('+00:00', 'Z')}"
        )
        began = time.perf_counter()
        response = client.get(url, HTTP_AUTHORIZATION=f"Token {tokens[owner]}", secure=True)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
        return elapsed, len(response.json()["results"]), owner

    for _ in range(20):  # warm-up: connections, caches, imports
        one_request()
    timings, sizes = [], []
    for _ in range(requests):
        elapsed, size, _owner = one_request()
        timings.append(elapsed)
        sizes.append(size)
    timings.sort()

    def percentile(p: float) -> float:
        return round(timings[min(len(timings) - 1, int(p / 100 * len(timings)))], 2)

    return {
        "p50_ms": percentile(50),
        "p95_ms": percentile(95),
        "p99_ms": percentile(99),
        "mean_ms": round(statistics.fmean(timings), 2),
        "requests": requests,
        "mean_results_per_page": round(statistics.fmean(sizes), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 activities, fewer requests")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the data again")
    parser.add_argument("--requests", type=int, default=None, help="measured requests")
    args = parser.parse_args()
    count = 50_000 if args.quick else 1_000_000
    requests = args.requests or (200 if args.quick else 500)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)

    ensure_database(database_url)
    configure_django(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.reseed or seeded_size() != count:
        truncate()
        began = time.perf_counter()
        seed(count)
        print(
            f"seeded {count} appointments in {time.perf_counter() - began:.0f} s", file=sys.stderr
        )
    figures = measure(requests)
    figures.update(
        {
            "benchmark": "api_list",
            "activities": count,
            "endpoint": "/api/v1/appointments/ (owner + start range, page of 50)",
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": figures["p95_ms"] < TARGET_P95_MS,
        }
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
