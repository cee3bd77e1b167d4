"""Run exchangelib's own test suite, unmodified, against the EWS emulator over TLS.

    python -m ews_emulator.exchangelib_suite CHECKOUT [MODULE ...] [--venv DIR | --python PY]

CHECKOUT is a local checkout of exchangelib's repository at the tag of the installed
version (for example v5.6.0), kept outside this repository; its tests are not copied here.
MODULEs are paths under its `tests/` (default: test_items, test_folder, test_account,
test_attachments, test_extended_properties, test_protocol, test_services).

The tests run in a virtualenv of their own, which the script builds the first time (and
again when what it needs changes): exchangelib at the version installed beside the
emulator, pytest, and the suite's test dependencies (`requests_mock`, `pytz`, `PyYAML`,
`python-dateutil`, `psutil`, from its `test-requirements.txt`), installed with pip from
the configured index. It lives in `--venv` (default: `.crmsync-suite-venv` inside the
checkout); `--python` names a ready interpreter instead.

The script starts `python -m ews_emulator --tls` on a free port with a fresh database, a
self-signed certificate and one test mailbox, writes the `settings.yml` the suite reads
(the suite's documented way to point it at a server; `verify_ssl: false`) into the
checkout, runs pytest with a JUnit report, and prints passed / run per module (run = not
skipped), the failing tests grouped by their error's first line, and one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from .testing import start_emulator

MODULES = (
    "test_items",
    "test_folder.py",
    "test_account.py",
    "test_attachments.py",
    "test_extended_properties.py",
    "test_protocol.py",
    "test_services.py",
)
ACCOUNT = "suite@example.com"
# Sent mail arrives this long after the send, as with Exchange's transport (the suite checks
# that a sent message is not in the Inbox at once, then polls for it).
DELIVERY_DELAY_MS = 1000
PASSWORD = "suite-secret"  # noqa: S105  (a throwaway mailbox of a throwaway emulator)
# What exchangelib's tests import besides exchangelib (its test-requirements.txt, less the
# linters), and pytest to run them.
TEST_REQUIREMENTS = ("pytest", "requests_mock", "pytz", "PyYAML", "python-dateutil", "psutil")


def suite_python(venv: Path) -> str:
    """The interpreter of the suite's virtualenv, built (or rebuilt) when missing or made
    for other requirements."""
    wanted = "\n".join(
        (f"exchangelib=={importlib.metadata.version('exchangelib')}", *TEST_REQUIREMENTS)
    )
    python = venv / "bin" / "python"
    stamp = venv / "crmsync-suite-requirements.txt"
    if python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        return str(python)
    print(f"building the suite's virtualenv in {venv}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *wanted.split("\n")], check=True
    )
    stamp.write_text(wanted)
    return str(python)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def module_of(classname: str, file: str | None) -> str:
    """`tests.test_items.test_basics.X` → `test_items/test_basics`."""
    parts = (file or classname.replace(".", "/")).removesuffix(".py").split("/")
    if parts and parts[0] == "tests":
        parts = parts[1:]
    return "/".join(p for p in parts if p.startswith("test_")) or classname


def tally(report: Path) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """Passed / run / skipped per module, and the failed tests by their error's first line."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures: dict[str, list[str]] = defaultdict(list)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)  # our own report
    for case in etree.parse(str(report), parser).getroot().iter("testcase"):
        classname = case.get("classname", "")
        module = module_of(".".join(classname.split(".")[:-1]) or classname, case.get("file"))
        if case.find("skipped") is not None:
            counts[module]["skipped"] += 1
            continue
        counts[module]["run"] += 1
        failed = case.find("failure")
        if failed is None:
            failed = case.find("error")
        if failed is None:
            counts[module]["passed"] += 1
            continue
        cause = (failed.get("message") or "").strip().splitlines() or ["(no message)"]
        failures[cause[0][:160]].append(f"{module}::{case.get('name')}")
    return {m: dict(c) for m, c in sorted(counts.items())}, dict(failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--venv", type=Path, help="the suite's virtualenv (built if needed)")
    parser.add_argument("--python", help="a ready interpreter instead of the virtualenv")
    args = parser.parse_args()
    tests = args.checkout / "tests"
    if not (tests / "common.py").is_file():
        parser.error(f"{args.checkout} is not a checkout of exchangelib (no tests/common.py)")
    python = args.python or suite_python(args.venv or args.checkout / ".crmsync-suite-venv")
    with tempfile.TemporaryDirectory(prefix="exchangelib-suite-") as tmp:
        work = Path(tmp)
        cert, key = self_signed(work)
        ews = start_emulator(
            work / "ews.db",
            users=[(ACCOUNT, PASSWORD)],
            extra_args=[
                "--tls",
                str(cert),
                str(key),
                "--delivery-delay-ms",
                str(DELIVERY_DELAY_MS),
            ],
        )
        try:
            host = ews.ews_url.split("://", 1)[1].split("/", 1)[0]
            (args.checkout / "settings.yml").write_text(
                json.dumps(
                    {
                        "server": host,
                        "autodiscover_server": host,
                        "username": ACCOUNT,
                        "password": PASSWORD,
                        "account": ACCOUNT,
                        "alias": ACCOUNT,
                        "verify_ssl": False,
                    }
                )
            )
            report = work / "junit.xml"
            command = [
                python,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
                "-o",
                "junit_family=xunit1",
                *[str(tests / m) for m in args.modules],
            ]
            subprocess.run(command, cwd=args.checkout, check=False)
            counts, failures = tally(report)
        finally:
            ews.stop()
    total_run = sum(c.get("run", 0) for c in counts.values())
    total_passed = sum(c.get("passed", 0) for c in counts.values())
    for module, c in counts.items():
        passed, run, skipped = c.get("passed", 0), c.get("run", 0), c.get("skipped", 0)
        print(f"{module:45} {passed:4} / {run:4}  skipped {skipped}")
    print(f"{'total':45} {total_passed:4} / {total_run:4}")
    for cause, cases in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        print(f"\n{len(cases)} x {cause}")
        for case in cases:
            print(f"    {case}")
    print(json.dumps({"modules": counts, "passed": total_passed, "run": total_run}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
