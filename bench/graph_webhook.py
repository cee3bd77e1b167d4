"""Push over Microsoft Graph: seconds from a message arriving in Exchange Online to its CRM
email, through the real processes.

As in production: the emulator (Entra ID and Graph over TLS) posts change notifications to
crmsync's notification view served by gunicorn over TLS (DEBUG off, an https
CRMSYNC_GRAPH_NOTIFICATION_URL); the view makes the mailbox due and enqueues a dispatch on
Redis; a Celery worker claims the mailbox and files the message by a `messages/delta` of
the Inbox; beat runs beside them. Subscriptions are made by the worker
(`maintain_graph_subscriptions`, as beat enqueues it). The database is a SQLite file the
processes share. The Redis broker is `CELERY_BROKER_URL` (redis://127.0.0.1:6379/0 unless
set).

    CELERY_BROKER_URL=redis://127.0.0.1:6379/N python bench/graph_webhook.py [--quick]

Target (issue 13): median webhook-to-CRM latency <= 2 s. Then the mailbox stays idle for a
while beat dispatches every 2 s: `idle_requests_webhooks_live` counts its Graph requests
meanwhile (target 0: live subscriptions cover it, so it is not polled).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _syncbench as sb
from django.conf import settings
from tqdm import tqdm

from activities.models import Email
from crmsync.choices import DeliveryMethod
from ews_emulator.testing import self_signed_certificate
from mailboxes.models import GraphSubscription, Mailbox
from mailboxes.sync.cycle import run_cycle
from tests.graph_support import SECRET, TENANT, GraphTenant, start_graph_tenant

QUICK = "--quick" in sys.argv
CHANGES = 5 if QUICK else 20
DISPATCH_SECONDS = 2
IDLE_SECONDS = 10 if QUICK else 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def web_env(tenant: GraphTenant, url: str) -> dict[str, str]:
    return {
        "ALLOWED_HOSTS": "127.0.0.1",
        "CRMSYNC_GRAPH_NOTIFICATION_URL": url,
        "CRMSYNC_MICROSOFT_CA_BUNDLE": tenant.ca_file,
        # Beat looks for due mailboxes this often (30 s by default): the idle window below
        # then spans several dispatches that must leave the webhook-covered mailbox alone.
        "CRMSYNC_DISPATCH_SECONDS": str(DISPATCH_SECONDS),
    }


def start(args: list[str], name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    os.environ.update(env)  # sb.start_process passes this process's environment on
    return sb.start_process(args, name)


def wait_for(condition: object, what: str, timeout: float = 60) -> float:
    began = time.perf_counter()
    while not condition():  # type: ignore[operator]
        if time.perf_counter() - began > timeout:
            raise SystemExit(f"{what} did not happen within {timeout} s; see {sb.WORKDIR}")
        time.sleep(0.01)
    return time.perf_counter() - began


def message(subject: str) -> bytes:
    return (
        f"From: Carol Customer <carol@example.org>\r\nTo: bench@example.com\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@example.org>\r\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n\r\n"
        "Hello\r\n"
    ).encode()


def setup(tenant: GraphTenant, address: str) -> Mailbox:
    from mailboxes.webhooks.plan import GRAPH_SERVER_TYPE
    from profiles.saving import create_profile

    profile = create_profile(
        name=f"bench-m365-{uuid.uuid4().hex[:6]}",
        server_type=GRAPH_SERVER_TYPE,
        oauth_tenant_id=TENANT,
        oauth_client_id="app-all",
        oauth_client_secret=SECRET,
        oauth_authority_host=tenant.base,
        graph_endpoint=tenant.graph_endpoint,
        max_concurrent_connections=10,
    )
    return sb.owned_mailbox(
        profile,
        address,
        incoming_delivery_method=DeliveryMethod.SERVER_SIDE_SYNC,
        tracking_option=Mailbox.TrackingOption.ALL,
        act_delivery_method="none",
    )


def main() -> None:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise SystemExit("set CELERY_BROKER_URL to a Redis database: redis://127.0.0.1:6379/N")
    sb.migrate()
    processes: list[subprocess.Popen[bytes]] = []
    folder = sb.WORKDIR / "m365"
    folder.mkdir()
    web_cert, web_key = self_signed_certificate(folder, "web")
    # The emulator (urllib, the default SSL context) trusts gunicorn's certificate.
    os.environ["SSL_CERT_FILE"] = web_cert
    with start_graph_tenant(folder) as tenant:
        del os.environ["SSL_CERT_FILE"]
        try:
            port = free_port()
            url = f"https://127.0.0.1:{port}/graph/notifications/"
            settings.CRMSYNC_GRAPH_NOTIFICATION_URL = url
            settings.CRMSYNC_MICROSOFT_CA_BUNDLE = tenant.ca_file
            mailbox = setup(tenant, tenant.new_mailbox_address())
            first = run_cycle(mailbox.pk, respect_limit=False)  # the delta baseline
            if first.error is not None:
                raise SystemExit(f"first sync failed: {first.error.code}: {first.error}")
            env = web_env(tenant, url)
            processes.append(
                start(
                    [
                        "-m",
                        "gunicorn",
                        "crmsync.wsgi:application",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        "2",
                        "--certfile",
                        web_cert,
                        "--keyfile",
                        web_key,
                    ],
                    "web",
                    env,
                )
            )
            processes += sb.start_workers(1)
            processes.append(sb.start_beat())  # the environment `start` set
            from mailboxes.webhooks.tasks import maintain_graph_subscriptions

            maintain_graph_subscriptions.delay()
            wait_for(
                lambda: GraphSubscription.objects.filter(mailbox=mailbox, key="inbox").exists(),
                "the worker's subscription",
            )
            # The new subscriptions made the mailbox due once: let that cycle pass.
            wait_for(
                lambda: (
                    Mailbox.objects.filter(pk=mailbox.pk, claimed_by="").exists()
                    and Mailbox.objects.get(pk=mailbox.pk).last_sync_started_at
                    != mailbox.last_sync_started_at
                ),
                "the cycle after subscribing",
            )
            latencies = []
            for n in tqdm(range(CHANGES), desc="messages pushed", file=sys.stderr):
                subject = f"Pushed {n} {uuid.uuid4().hex[:6]}"
                made = time.perf_counter()
                tenant.control.deliver(mailbox.email_address, message(subject))
                wait_for(
                    lambda subject=subject: Email.objects.filter(subject=subject).exists(),
                    f"the CRM email {subject!r}",
                )
                latencies.append(time.perf_counter() - made)
                time.sleep(0.5)
            delivered = sum(s["delivered"] for s in tenant.control.graph_subscriptions())
            # Idle with live webhooks: no cycle, hence no Graph request, while beat keeps
            # dispatching (the mailbox is only polled every CRMSYNC_GRAPH_WEBHOOK_POLL_MINUTES).
            wait_for(
                lambda: Mailbox.objects.filter(pk=mailbox.pk, claimed_by="").exists(),
                "the last cycle's end",
            )
            tenant.control.graph_counters(reset=True)
            for _ in tqdm(range(IDLE_SECONDS), desc="idle, webhooks live", file=sys.stderr):
                time.sleep(1)
            counters = tenant.control.graph_counters()["requests"]
            idle_requests = int(counters.get(mailbox.email_address, 0))
            sb.report(
                {
                    "benchmark": "graph_webhook",
                    "quick": QUICK,
                    "changes": CHANGES,
                    "notifications_delivered": delivered,
                    "median_seconds": round(statistics.median(latencies), 2),
                    "max_seconds": round(max(latencies), 2),
                    "target_median_seconds": 2,
                    "idle_seconds_webhooks_live": IDLE_SECONDS,
                    "beat_dispatch_seconds": DISPATCH_SECONDS,
                    "idle_requests_webhooks_live": idle_requests,
                    "broker": "redis",
                    "load_average": sb.load_average(),
                }
            )
        finally:
            sb.stop_processes(processes)


if __name__ == "__main__":
    main()
