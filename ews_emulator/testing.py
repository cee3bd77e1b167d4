"""Run an emulator process for tests, the demo and benchmarks.

from ews_emulator.testing import run_emulator

with run_emulator(tmp_path / "ews.db", users=[("alice@example.com", "secret")]) as ews:
    ews.ews_url      # http://127.0.0.1:PORT/EWS/Exchange.asmx
    ews.control      # a ControlClient
    ews.pid
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .control import ControlClient

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class EmulatorProcess:
    ews_url: str
    control: ControlClient
    process: subprocess.Popen[str]
    db_path: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def start_emulator(
    db_path: str | os.PathLike[str],
    users: Sequence[tuple[str, str]] = (("alice@example.com", "secret"),),
    impersonator: tuple[str, str] | None = None,
    *,
    port: int = 0,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 15.0,
) -> EmulatorProcess:
    """Start `python -m ews_emulator` and wait for its endpoint line. Stop it with `.stop()`."""
    cmd = [sys.executable, "-m", "ews_emulator", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--db", os.fspath(db_path)]
    for email, password in users:
        cmd += ["--user", f"{email}:{password}"]
    if impersonator is not None:
        cmd += ["--impersonator", f"{impersonator[0]}:{impersonator[1]}"]
    cmd += list(extra_args)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=str(PACKAGE_ROOT)
    )
    line: list[str] = []
    reader = threading.Thread(
        target=lambda: line.append(process.stdout.readline() if process.stdout else "")
    )
    reader.start()
    reader.join(startup_timeout)
    url = line[0].strip() if line else ""
    if not url.startswith("http"):
        process.kill()
        process.wait()
        raise RuntimeError(f"emulator did not start (exit code {process.returncode})")
    return EmulatorProcess(url, ControlClient(url), process, os.fspath(db_path))


@contextlib.contextmanager
def run_emulator(
    db_path: str | os.PathLike[str],
    users: Sequence[tuple[str, str]] = (("alice@example.com", "secret"),),
    impersonator: tuple[str, str] | None = None,
    **kwargs: object,
) -> Iterator[EmulatorProcess]:
    """Context manager around `start_emulator`; the process is always stopped on exit."""
    emulator = start_emulator(db_path, users, impersonator, **kwargs)  # type: ignore[arg-type]
    try:
        yield emulator
    finally:
        emulator.stop()


def self_signed_certificate(
    directory: str | os.PathLike[str], name: str = "emulator", host: str = "127.0.0.1"
) -> tuple[str, str]:
    """Write a self-signed certificate for `host` and its key; return (cert path, key path).

    For `--tls` (msal insists on an https authority) and for applications that
    authenticate with a certificate (`--app-cert`)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = Path(directory) / f"{name}.crt"
    key_path = Path(directory) / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
