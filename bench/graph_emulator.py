"""Benchmark of the emulator's Microsoft Graph: a 500-message delta page, small GETs/s.

    python bench/graph_emulator.py [--quick]

Progress goes to stderr; the figures are printed last, as one JSON object on one line.
Targets (issue 12): a messages/delta page of 500 messages with bodies < 150 ms;
>= 500 small GET requests/s through `requests` with keep-alive.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ews_emulator.testing import run_emulator

USER, PASSWORD = "bench@example.com", "secret"
CLIENT_ID, SECRET = "bench-app", "bench-secret"
BODY = (
    "<html><body>"
    + "<p>Quarterly figures, line {n}: nothing remarkable.</p>" * 30
    + "</body></html>"
)


def progress(message: str) -> None:
    print(f"[bench graph_emulator] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    gets = 500 if args.quick else 3000
    delta_runs = 3 if args.quick else 10
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_emulator(
            Path(tmp) / "bench.db",
            users=[(USER, PASSWORD)],
            extra_args=["--app", f"{CLIENT_ID}:{SECRET}"],
        ) as emulator,
    ):
        base = emulator.ews_url.split("/EWS/")[0]
        session = requests.Session()
        session.trust_env = False
        token = session.post(
            f"{base}/bench-tenant/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "scope": "https://graph.microsoft.com/.default",
            },
            timeout=30,
        ).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        progress("seeding 500 messages with HTML bodies of about 2 KB")
        ids = emulator.control.seed(
            USER, "messages", 500, fields={"Body": {"type": "HTML", "value": BODY}}
        )
        graph = f"{base}/v1.0/users/{USER}"
        latencies, sizes = [], []
        for n in range(delta_runs):
            start = time.perf_counter()
            answer = session.get(
                f"{graph}/mailFolders/inbox/messages/delta",
                headers={"Prefer": "odata.maxpagesize=500"},
                timeout=60,
            )
            latencies.append(time.perf_counter() - start)
            page = answer.json()
            if answer.status_code != 200 or len(page["value"]) != 500:
                raise RuntimeError(f"delta page: HTTP {answer.status_code}, {answer.text[:300]}")
            if "Quarterly figures" not in page["value"][0]["body"]["content"]:
                raise RuntimeError("the delta page has no bodies")
            sizes.append(len(answer.content))
            progress(f"delta page of 500, run {n + 1}/{delta_runs}: {latencies[-1] * 1000:.0f} ms")
        item = ids[0].replace("/", "-").replace("+", "_")
        small = f"{graph}/messages/{item}?$select=subject,isRead"
        first = session.get(small, timeout=30)
        if first.status_code != 200 or first.json()["subject"] != "Seeded message 0":
            raise RuntimeError(f"GET message: HTTP {first.status_code}, {first.text[:300]}")
        progress(f"GET message x {gets} over one keep-alive session")
        start = time.perf_counter()
        for _ in range(gets):
            if session.get(small, timeout=30).status_code != 200:
                raise RuntimeError("a GET failed")
        rate = gets / (time.perf_counter() - start)
        progress(f"small GETs: {rate:.0f} requests/s")
    figures = {
        "delta_500_page_ms_median": round(statistics.median(latencies) * 1000, 1),
        "delta_500_page_ms_max": round(max(latencies) * 1000, 1),
        "delta_500_page_bytes": sizes[0],
        "small_get_per_s": round(rate, 1),
        "small_get_requests": gets,
        "quick": args.quick,
        "targets": {"delta_500_page_ms": 150, "small_get_per_s": 500},
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
