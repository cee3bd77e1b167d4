"""Command line: `python -m ews_emulator --db PATH --user alice@example.com:secret ...`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .graph.throttle import limits_of
from .mailstore import DELIVERY_DELAY
from .operations.push import start_push_sender
from .server import EmulatorServer
from .store import Store


def _account(value: str) -> tuple[str, str]:
    email, sep, password = value.partition(":")
    if not sep or "@" not in email:
        raise argparse.ArgumentTypeError(f"expected EMAIL:PASSWORD, got {value!r}")
    return email, password


def _app(value: str) -> tuple[str, str, list[str]]:
    """CLIENT_ID:SECRET[:ROLE,ROLE...] (or CLIENT_ID:CERT_FILE[:ROLES] for --app-cert)."""
    client_id, sep, rest = value.partition(":")
    if not sep or not client_id or not rest:
        raise argparse.ArgumentTypeError(f"expected CLIENT_ID:SECRET[:ROLES], got {value!r}")
    credential, _, roles = rest.partition(":")
    return client_id, credential, [r.strip() for r in roles.split(",") if r.strip()]


def _scope(value: str) -> tuple[str, list[str]]:
    client_id, sep, mailboxes = value.partition(":")
    if not sep or not client_id:
        raise argparse.ArgumentTypeError(f"expected CLIENT_ID:EMAIL[,EMAIL...], got {value!r}")
    return client_id, [m.strip() for m in mailboxes.split(",") if m.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ews_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--db", required=True, help="SQLite file holding the mailboxes")
    parser.add_argument("--user", type=_account, action="append", default=[], metavar="EMAIL:PW")
    parser.add_argument("--impersonator", type=_account, metavar="EMAIL:PW")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--ntlm", action="store_true", help="offer NTLM besides Basic")
    parser.add_argument("--control-token", help="require X-Control-Token on /control/")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=27,
        help="EWS requests in progress per user (Exchange's EWSMaxConcurrency, default 27)",
    )
    parser.add_argument(
        "--delivery-delay-ms",
        type=int,
        default=round(DELIVERY_DELAY * 1000),
        help="deliver sent mail this long after the send, as Exchange's transport does "
        "(default %(default)s; 0: within the send)",
    )
    parser.add_argument(
        "--app",
        type=_app,
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET[:ROLES]",
        help="register an Entra ID application with a client secret (no ROLES: all roles)",
    )
    parser.add_argument(
        "--app-cert",
        type=_app,
        action="append",
        default=[],
        metavar="CLIENT_ID:CERT_PEM_FILE[:ROLES]",
        help="register an application authenticating with this certificate",
    )
    parser.add_argument(
        "--app-scope",
        type=_scope,
        action="append",
        default=[],
        metavar="CLIENT_ID:EMAIL[,EMAIL...]",
        help="limit an application to these mailboxes (RBAC for Applications)",
    )
    parser.add_argument(
        "--graph-concurrency",
        type=int,
        default=4,
        help="Graph requests at once per application per mailbox (429 beyond)",
    )
    parser.add_argument(
        "--graph-rate",
        type=int,
        default=10_000,
        help="Graph requests per application per mailbox per 10 minutes (429 beyond)",
    )
    parser.add_argument("--tenant", help="the only tenant (id or domain) accepted; default: any")
    parser.add_argument("--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    store = Store(args.db)
    for email, password in args.user:
        store.ensure_mailbox(email, password)
    if args.impersonator:
        email, password = args.impersonator
        store.ensure_mailbox(email, password, impersonator=True)
    server = EmulatorServer(
        (args.host, args.port),
        store,
        ntlm=args.ntlm,
        control_token=args.control_token,
        tls=tuple(args.tls) if args.tls else None,
        max_concurrency=args.max_concurrency,
        tenant=args.tenant,
        delivery_delay=args.delivery_delay_ms / 1000,
    )
    limits_of(server).concurrency = args.graph_concurrency
    limits_of(server).rate = args.graph_rate
    scopes = dict(args.app_scope)
    for client_id, secret, roles in args.app:
        server.identity.register_app(
            client_id, secret=secret, roles=roles, mailboxes=scopes.get(client_id)
        )
    for client_id, cert_file, roles in args.app_cert:
        with open(cert_file, encoding="ascii") as fh:
            pem = fh.read()
        server.identity.register_app(
            client_id, certificate_pem=pem, roles=roles, mailboxes=scopes.get(client_id)
        )
    start_push_sender(store, server.stopping)
    print(server.endpoint, flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.mail.flush()  # what was sent and not yet delivered is not lost
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
