"""Command line: `python -m ews_emulator --db PATH --user alice@example.com:secret ...`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .server import EmulatorServer
from .store import Store


def _account(value: str) -> tuple[str, str]:
    email, sep, password = value.partition(":")
    if not sep or "@" not in email:
        raise argparse.ArgumentTypeError(f"expected EMAIL:PASSWORD, got {value!r}")
    return email, password


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
    )
    print(server.endpoint, flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
