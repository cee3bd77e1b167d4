"""Benchmark of the Graph client (mailboxes/connectors/graph) against a bare msal + requests
loop on the emulator's Graph: the same delta pages and the same small GETs, so that the
figures show what the client adds (token cache lookup, immutable-id header, the mailbox's
request slot in Redis when CRMSYNC_REDIS_URL or a Redis CELERY_BROKER_URL is set, error
mapping).

    python bench/graph_client.py [--quick]

Progress goes to stderr; the figures are printed last, as one JSON object on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailboxes.connectors.graph.client import GraphClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TENANT, CLIENT_ID, SECRET = "bench.onmicrosoft.com", "bench-app", "bench-secret"
USER, PASSWORD = "bench@example.com", "secret"
SCOPE = "https://graph.microsoft.com/.default"


def progress(message: str) -> None:
    print(f"[bench graph_client] {message}", file=sys.stderr, flush=True)


def bare_delta(base: str, ca_file: str, page_size: int) -> tuple[float, int]:
    """msal + requests, as a hand-written loop would: (seconds, messages)."""
    import msal
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=SECRET,
        authority=f"{base}/{TENANT}",
        instance_discovery=False,
        http_client=session,
    )
    start = time.perf_counter()
    url: str | None = f"{base}/v1.0/users/{USER}/mailFolders/inbox/messages/delta"
    count = 0
    while url:
        token = app.acquire_token_for_client(scopes=[SCOPE])["access_token"]
        page = session.get(
            url,
            headers={
                "Authorization": f"Bearer {token}",
                "Prefer": f'IdType="ImmutableId", odata.maxpagesize={page_size}',
            },
            timeout=60,
        ).json()
        count += len(page["value"])
        url = page.get("@odata.nextLink")
    return time.perf_counter() - start, count


def client_delta(client: GraphClient, page_size: int) -> tuple[float, int]:
    start = time.perf_counter()
    count = 0
    for page in client.delta("mailFolders/inbox/messages/delta", page_size=page_size):
        count += len(page.items)
    return time.perf_counter() - start, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer messages and requests")
    args = parser.parse_args()
    messages = 1000 if args.quick else 5000
    gets = 200 if args.quick else 1000
    page_size = 100
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("DEBUG", "true")
        os.environ["CRMSYNC_DATA_DIR"] = tmp
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
        from ews_emulator.testing import run_emulator, self_signed_certificate

        cert, key = self_signed_certificate(tmp, "server")
        os.environ["CRMSYNC_MICROSOFT_CA_BUNDLE"] = cert
        import django

        django.setup()
        from mailboxes.connectors.graph import limits
        from mailboxes.connectors.graph.client import GraphClient
        from mailboxes.connectors.settings import AppCredentials, GraphSettings

        extra = ["--tls", cert, key, "--tenant", TENANT, "--app", f"{CLIENT_ID}:{SECRET}"]
        with run_emulator(Path(tmp) / "bench.db", [(USER, PASSWORD)], extra_args=extra) as ews:
            base = ews.ews_url.split("/EWS/")[0]
            progress(f"seeding {messages} messages")
            import ssl

            from ews_emulator.control import ControlClient

            control = ControlClient(base, ssl_context=ssl.create_default_context(cafile=cert))
            for start in range(0, messages, 1000):
                control.seed(USER, "messages", min(1000, messages - start))
            settings = GraphSettings(
                profile_id=0,
                mailbox_address=USER,
                app=AppCredentials(base, TENANT, CLIENT_ID, client_secret=SECRET),
                endpoint=f"{base}/v1.0",
                timeout_seconds=60,
            )
            client = GraphClient(settings)
            client.get("mailFolders/inbox")  # the token, once, outside the timings
            bare_delta(base, cert, page_size)  # warm both paths once
            client_delta(client, page_size)
            progress(f"delta of {messages} messages, pages of {page_size}: bare, then client")
            bare_s, bare_n = min(bare_delta(base, cert, page_size) for _ in range(3))
            client_s, client_n = min(client_delta(client, page_size) for _ in range(3))
            assert bare_n == client_n == messages, (bare_n, client_n)
            progress(f"{gets} small GETs through the client")
            began = time.perf_counter()
            for _ in range(gets):
                client.get("mailFolders/inbox")
            per_get_ms = (time.perf_counter() - began) / gets * 1000
            result = {
                "messages": messages,
                "page_size": page_size,
                "delta_bare_s": round(bare_s, 3),
                "delta_client_s": round(client_s, 3),
                "delta_client_over_bare": round(client_s / bare_s, 3),
                "small_get_ms": round(per_get_ms, 2),
                "slots": "redis" if limits.redis_url() else "process",
            }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
