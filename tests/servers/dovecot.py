"""A private Dovecot instance: own config in a temporary directory, high loopback ports,
plaintext auth without TLS, one password for every test user, maildir storage.

Dovecot's login processes refuse to run as root, so when the tests run as root the mail and
login processes run as an unprivileged system user (made by scripts/ensure-mail-servers.sh);
otherwise everything runs as the current user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TEST_USER = os.environ.get("CRMSYNC_MAIL_TEST_USER", "crmsync-test")
PASSWORD = "secret"  # the test servers' one password
ENSURE_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-mail-servers.sh"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
    )


@dataclass(frozen=True)
class MailUser:
    address: str
    password: str = PASSWORD


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int
    name: str


def _run_as() -> _Account:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return _Account(entry.pw_uid, entry.pw_gid, entry.pw_name)
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        raise RuntimeError(
            f"user {TEST_USER!r} missing: run scripts/ensure-mail-servers.sh first"
        ) from None
    return _Account(entry.pw_uid, entry.pw_gid, entry.pw_name)


class DovecotServer:
    """Start with `start()`, stop with `stop()`; users are added at any time."""

    def __init__(self, root: Path | None = None) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="crmsync-dovecot-"))
        # The unprivileged auth and mail processes must reach the homes.
        self.root.chmod(0o755)
        self.account = _run_as()
        self.imap_port = free_port()
        self.pop3_port = free_port()
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[bytes] | None = None
        self._users: dict[str, MailUser] = {}

    # --- layout ---------------------------------------------------------------------------
    def home(self, address: str) -> Path:
        return self.root / "mail" / address.lower()

    def maildir(self, address: str) -> Path:
        return self.home(address) / "Maildir"

    # --- users ----------------------------------------------------------------------------
    def add_user(self, address: str) -> MailUser:
        """Create the user's maildir; any user logs in with PASSWORD."""
        user = MailUser(address.lower(), PASSWORD)
        self._users[user.address] = user
        maildir = self.maildir(user.address)
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self._chown_tree(self.home(user.address))
        return user

    def has_user(self, address: str) -> bool:
        return address.lower() in self._users

    def deliver(self, address: str, raw: bytes, *, folder: str = "") -> Path:
        """Drop a message into a user's maildir, as a local delivery agent would."""
        maildir = self.maildir(address)
        if folder:
            maildir = maildir / f".{folder}"
            for sub in ("cur", "new", "tmp"):
                (maildir / sub).mkdir(parents=True, exist_ok=True)
            self._chown_tree(maildir)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.crmsync-test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        self._chown(tmp)
        final = maildir / "new" / name
        os.replace(tmp, final)
        return final

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.account.uid, self.account.gid)

    def _chown_tree(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        for dirpath, _dirnames, filenames in os.walk(path):
            os.chown(dirpath, self.account.uid, self.account.gid)
            for filename in filenames:
                os.chown(os.path.join(dirpath, filename), self.account.uid, self.account.gid)
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            os.chown(parent, self.account.uid, self.account.gid)
            parent = parent.parent

    # --- process --------------------------------------------------------------------------
    def config_text(self) -> str:
        run = self.root / "run"
        return f"""
protocols = imap pop3
listen = 127.0.0.1
base_dir = {run}
state_dir = {self.root / "state"}
instance_name = crmsync-test-{self.imap_port}
log_path = {self.root / "dovecot.log"}
info_log_path = {self.root / "dovecot.log"}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {self.account.name}
default_internal_user = {self.account.name}
mail_location = maildir:~/Maildir
mail_uid = {self.account.uid}
mail_gid = {self.account.gid}
first_valid_uid = 1
first_valid_gid = 1
mail_fsync = never
pop3_uidl_format = %08Xu%08Xv
imap_max_line_length = 10M
login_trusted_networks = 127.0.0.0/8
# Every user's password is PASSWORD: users come and go within a second, faster than
# Dovecot notices a changed passwd-file.
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={self.account.uid} gid={self.account.gid} home={self.root / "mail"}/%Lu
}}
auth_failure_delay = 0
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def start(self, timeout: float = 15.0) -> DovecotServer:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed: run scripts/ensure-mail-servers.sh")
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._chown_tree(self.root / "mail")
        self._chown(self.root / "state")
        config = self.root / "dovecot.conf"
        config.write_text(self.config_text())
        self._process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "dovecot.stderr", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited at start:\n{self.diagnostics()}")
            if _accepts(self.host, self.imap_port) and _accepts(self.host, self.pop3_port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not start within {timeout}s:\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        parts = []
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False
