"""Benchmark of the EWS emulator: start-up, GetItem throughput, SyncFolderItems page latency.

    python bench/ews_emulator.py [--quick]

Progress goes to stderr; the figures are printed last, as one JSON object on one line.
Targets (issue 3): start-up < 1 s, >= 300 GetItem/s (one item each, keep-alive),
a 512-item SyncFolderItems page < 150 ms.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ews_emulator.testing import run_emulator

USER, PASSWORD = "bench@example.com", "secret"
ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
<s:Body>{body}</s:Body></s:Envelope>"""
GET_ITEM = """<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
<m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:GetItem>"""
SYNC = """<m:SyncFolderItems><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
<m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId>
<m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>"""


def progress(message: str) -> None:
    print(f"[bench ews_emulator] {message}", file=sys.stderr, flush=True)


class Soap:
    """One keep-alive HTTP connection posting SOAP envelopes."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30
        )
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "text/xml; charset=utf-8",
        }

    def post(self, body: str) -> bytes:
        self.conn.request("POST", self.path, ENVELOPE.format(body=body).encode(), self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
        return data


def measure_startup(runs: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            db = Path(tmp) / f"start{n}.db"
            cmd = [sys.executable, "-m", "ews_emulator", "--port", "0", "--db", str(db)]
            cmd += ["--user", f"{USER}:{PASSWORD}"]
            start = time.perf_counter()
            process = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent
            )
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            soap = Soap(url)
            soap.post(GET_ITEM.format(id="AAAA"))  # first answered request
            times.append(time.perf_counter() - start)
            process.terminate()
            process.wait(timeout=10)
            progress(f"start-up run {n + 1}/{runs}: {times[-1] * 1000:.0f} ms")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    requests = 300 if args.quick else 2000
    sync_runs = 3 if args.quick else 10
    startup_runs = 1 if args.quick else 3

    startup = measure_startup(startup_runs)
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_emulator(Path(tmp) / "bench.db", users=[(USER, PASSWORD)]) as ews,
    ):
        progress("seeding 512 calendar items and 1 message")
        start = time.perf_counter()
        ews.control.seed(USER, "calendar", 512)
        seed_seconds = time.perf_counter() - start
        item_id = ews.control.seed(USER, "messages", 1)[0]
        soap = Soap(ews.ews_url)
        soap.post(GET_ITEM.format(id=item_id))
        progress(f"GetItem x {requests} over one keep-alive connection")
        start = time.perf_counter()
        for n in range(requests):
            body = soap.post(GET_ITEM.format(id=item_id))
            if n == 0 and b"Seeded message 0" not in body:
                raise RuntimeError("GetItem did not return the item")
        get_item_rate = requests / (time.perf_counter() - start)
        progress(f"GetItem: {get_item_rate:.0f} requests/s")
        latencies = []
        for n in range(sync_runs):
            start = time.perf_counter()
            body = soap.post(SYNC)
            latencies.append(time.perf_counter() - start)
            if body.count(b"<t:Create>") != 512:
                raise RuntimeError("SyncFolderItems did not return 512 creates")
            progress(f"SyncFolderItems 512 run {n + 1}/{sync_runs}: {latencies[-1] * 1000:.0f} ms")
    figures = {
        "startup_ms": round(startup * 1000, 1),
        "get_item_per_s": round(get_item_rate, 1),
        "sync_512_page_ms_median": round(statistics.median(latencies) * 1000, 1),
        "sync_512_page_ms_max": round(max(latencies) * 1000, 1),
        "seed_512_calendar_items_s": round(seed_seconds, 2),
        "get_item_requests": requests,
        "quick": args.quick,
        "targets": {"startup_ms": 1000, "get_item_per_s": 300, "sync_512_page_ms": 150},
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
