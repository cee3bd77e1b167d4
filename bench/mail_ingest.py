"""Ingest benchmark: N messages of mixed size (1 KB to 1 MB, some with attachments) from
POP3 and IMAP (Dovecot) and from EWS and Microsoft Graph (the emulator), through the whole
engine, against a bare baseline in the same run (fetch + `email` parse + one INSERT per
message; for Graph a bare msal + requests loop over the same delta pages and `$value`s).

    python bench/mail_ingest.py [--quick] [--messages N] [--protocols pop3,imap,ews,graph]

Progress goes to stderr; the figures are printed last, as one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import imaplib
import json
import poplib
import random
import sys
import time
from email import policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._mailbench import (
    Progress,
    RssSampler,
    make_message,
    message_sizes,
    setup_django,
    workdir,
)

CHUNKS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 messages instead of 5,000")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--protocols", default="pop3,imap,ews,graph")
    args = parser.parse_args()
    count = args.messages or (500 if args.quick else 5000)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]

    work = workdir()
    setup_django(work)
    from django.db import connection

    from tests.servers import DovecotServer

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, subject TEXT, sender TEXT, "
            "message_id TEXT, body TEXT, size INTEGER)"
            if connection.vendor == "sqlite"
            else "CREATE TABLE IF NOT EXISTS bench_baseline (id SERIAL PRIMARY KEY, "
            "subject TEXT, sender TEXT, message_id TEXT, body TEXT, size INTEGER)"
        )

    sizes = message_sizes(count)
    figures: dict[str, object] = {
        "benchmark": "mail_ingest",
        "messages": count,
        "database": connection.vendor,
        "total_mb": round(sum(sizes) / 1e6, 1),
    }
    dovecot = DovecotServer().start()
    ews = None
    tenant = contextlib.ExitStack()
    try:
        for protocol in protocols:
            if protocol == "ews" and ews is None:
                from ews_emulator.testing import start_emulator

                ews = start_emulator(work / "ews.sqlite3", users=[])
            if protocol == "graph":
                from tests.graph_support import start_graph_tenant

                graph = tenant.enter_context(start_graph_tenant(work))
                figures[protocol] = run_protocol(protocol, sizes, dovecot, graph, work)
                continue
            figures[protocol] = run_protocol(protocol, sizes, dovecot, ews, work)
    finally:
        dovecot.stop()
        tenant.close()
        if ews is not None:
            ews.stop()
    print(json.dumps(figures))


def run_protocol(protocol, sizes, dovecot, ews, work) -> dict[str, object]:
    from django.db import connection

    count = len(sizes)
    rng = random.Random(11)
    base_user = f"baseline-{protocol}@bench.test"
    crm_user = f"crm-{protocol}@bench.test"
    progress = Progress(f"{protocol}: delivering", 2 * count)
    emulated = protocol in ("ews", "graph")
    for address in (base_user, crm_user):
        if emulated:
            ews.control.create_mailbox(address, "secret")
        else:
            dovecot.add_user(address)
    waiting: list[bytes] = []

    def deliver_waiting() -> None:
        # The emulator takes many messages per call: one transaction instead of thousands.
        for address in (base_user, crm_user):
            ews.control.deliver_many(address, waiting)
            progress.update(len(waiting))
        waiting.clear()

    for n, size in enumerate(sizes):
        raw = make_message(n, size, base_user, rng)
        if emulated:
            waiting.append(raw)
            if len(waiting) >= 100 or sum(map(len, waiting)) >= 8_000_000:
                deliver_waiting()
            continue
        for address in (base_user, crm_user):
            dovecot.deliver(address, raw)
            progress.update()
    if waiting:
        deliver_waiting()

    # --- baseline: fetch + parse + one INSERT -----------------------------------------------
    progress = Progress(f"{protocol}: baseline", count)

    def insert(raw: bytes) -> None:
        parsed = email.message_from_bytes(raw, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain", "html"))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_baseline (subject, sender, message_id, body, size) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    str(parsed["Subject"]),
                    str(parsed["From"]),
                    str(parsed["Message-ID"]),
                    body.get_content() if body is not None else "",
                    len(raw),
                ],
            )
        progress.update()

    started = time.perf_counter()
    with RssSampler() as base_rss:
        if protocol == "pop3":
            pop = poplib.POP3(dovecot.host, dovecot.pop3_port)
            pop.user(base_user)
            pop.pass_("secret")
            for line in pop.uidl()[1]:
                number = int(line.split()[0])
                insert(b"\r\n".join(pop.retr(number)[1]) + b"\r\n")
            pop.quit()
        elif protocol == "imap":
            imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
            imap.login(base_user, "secret")
            imap.select("INBOX", readonly=True)
            uids = imap.uid("SEARCH", "ALL")[1][0].split()
            for start in range(0, len(uids), 100):
                batch = b",".join(uids[start : start + 100]).decode()
                for item in imap.uid("FETCH", batch, "(BODY.PEEK[])")[1]:
                    if isinstance(item, tuple):
                        insert(item[1])
            imap.logout()
        elif protocol == "graph":
            _graph_baseline(ews, base_user, insert)
        else:
            _ews_baseline(ews, base_user, insert)
    base_seconds = time.perf_counter() - started

    # --- the engine -------------------------------------------------------------------------
    mailbox = _mailbox(protocol, crm_user, dovecot, ews)
    from mailboxes.mail.cycle import process_incoming

    progress = Progress(f"{protocol}: crmsync", count)
    chunk_peaks: list[float] = []
    filed = 0
    started = time.perf_counter()
    with RssSampler() as engine_rss:
        for _ in range(CHUNKS * 3):
            sampler = RssSampler()
            with sampler:
                result = process_incoming(mailbox, max_messages=max(1, count // CHUNKS))
            chunk_peaks.append(sampler.peak_mb)
            filed += result.filed + result.linked + result.failed
            progress.update(result.fetched)
            if not result.more and result.fetched == 0:
                break
    engine_seconds = time.perf_counter() - started

    from activities.models import Email

    stored = Email.objects.filter(mailbox=mailbox).count()
    return {
        "engine_seconds": round(engine_seconds, 2),
        "engine_msgs_per_s": round(count / engine_seconds, 1),
        "baseline_seconds": round(base_seconds, 2),
        "baseline_msgs_per_s": round(count / base_seconds, 1),
        "time_ratio_vs_baseline": round(engine_seconds / base_seconds, 2),
        "stored": stored,
        "peak_rss_mb_per_chunk": chunk_peaks,
        "engine_peak_rss_mb": engine_rss.peak_mb,
        "baseline_peak_rss_mb": base_rss.peak_mb,
    }


def _ews_baseline(ews, address, insert) -> None:
    from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, FailFast
    from exchangelib.version import EXCHANGE_2016, Version

    from mailboxes.connectors.ews.folders import fetch_sync_page

    config = Configuration(
        service_endpoint=ews.ews_url,
        credentials=Credentials(address, "secret"),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
        retry_policy=FailFast(),
    )
    account = Account(address, config=config, autodiscover=False, access_type=DELEGATE)
    state = None
    while True:
        page = fetch_sync_page(account.inbox, state, only_fields=["datetime_received"])
        ids = [item for kind, item in page.changes if kind == "create"]
        for start in range(0, len(ids), 200):
            for item in account.fetch(ids=ids[start : start + 200], only_fields=["mime_content"]):
                insert(item.mime_content)
        state = page.sync_state
        if page.includes_last_item_in_range:
            break


def _graph_baseline(tenant, address, insert) -> None:
    """A bare msal + requests client: the Inbox's delta pages, then `$value` per message."""
    import msal
    import requests

    from tests.graph_support import SECRET, TENANT

    session = requests.Session()
    session.trust_env = False
    session.verify = tenant.ca_file
    app = msal.ConfidentialClientApplication(
        "app-all",
        client_credential=SECRET,
        authority=f"{tenant.base}/{TENANT}",
        instance_discovery=False,
        http_client=session,
    )
    token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    session.headers["Prefer"] = 'IdType="ImmutableId", odata.maxpagesize=200'
    user = f"{tenant.graph_endpoint}/users/{address}"
    url: str | None = f"{user}/mailFolders/inbox/messages/delta?$select=receivedDateTime"
    while url:
        page = session.get(url).json()
        for item in page.get("value") or ():
            if "@removed" not in item:
                insert(session.get(f"{user}/messages/{item['id']}/$value").content)
        url = page.get("@odata.nextLink")


def _mailbox(protocol, address, dovecot, ews):
    from mailboxes.models import Mailbox
    from mailboxes.sync.eligibility import approve
    from profiles.saving import create_profile
    from users.models import User

    if protocol == "graph":
        from django.conf import settings

        from tests.graph_support import graph_profile_fields

        settings.CRMSYNC_MICROSOFT_CA_BUNDLE = ews.ca_file
        profile = create_profile(**graph_profile_fields(ews))
    elif protocol == "ews":
        profile = create_profile(
            name=f"bench-{protocol}",
            server_type="exchange",
            incoming_server_location=ews.ews_url,
            incoming_authentication_protocol="basic",
        )
    else:
        profile = create_profile(
            name=f"bench-{protocol}",
            server_type="pop3_smtp" if protocol == "pop3" else "imap_smtp",
            incoming_server_location=dovecot.host,
            incoming_port=dovecot.pop3_port if protocol == "pop3" else dovecot.imap_port,
            incoming_use_ssl=False,
        )
    user = User.objects.create_user(username=address, email=address)
    mailbox = Mailbox.objects.filter(user=user).first() or Mailbox.objects.create(
        user=user, email_address=address
    )
    mailbox.profile = profile
    mailbox.username = address
    mailbox.password = "secret"
    approve(mailbox)
    mailbox.tracking_option = Mailbox.TrackingOption.ALL
    mailbox.save()
    return Mailbox.objects.select_related("profile", "user", "queue").get(pk=mailbox.pk)


if __name__ == "__main__":
    main()
