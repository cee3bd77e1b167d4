"""IMAP connector: folders, UIDVALIDITY, new UIDs, batched fetches, APPEND. No Django here."""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailboxes.connectors import (
    PermanentSyncError,
    TransientSyncError,
    authentication_failed,
    network_error,
)
from mailboxes.connectors.session import LoginSettings, Session, opened

logger = logging.getLogger(__name__)

# imaplib caps a line at 10,000 bytes by default; long header lines exist in the wild.
imaplib._MAXLINE = 10 * 1024 * 1024  # type: ignore[attr-defined]

_LIST_RE = re.compile(rb'\((?P<flags>[^)]*)\) (?P<sep>"[^"]*"|NIL) (?P<name>.+)$')
_UID_RE = re.compile(rb"UID (\d+)")
_INTERNALDATE_RE = re.compile(rb'INTERNALDATE "([^"]+)"')
_UIDVALIDITY_RE = re.compile(rb"UIDVALIDITY (\d+)")
_SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapSettings(LoginSettings):
    """IMAP on port 993 with TLS, 143 without."""


@dataclass(frozen=True)
class ImapFolder:
    name: str
    flags: tuple[str, ...]
    separator: str

    @property
    def is_selectable(self) -> bool:
        return "\\noselect" not in {f.lower() for f in self.flags}


@dataclass(frozen=True)
class ImapMessage:
    uid: int
    internal_date: datetime | None
    raw: bytes


class ImapConnector(Session):
    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._client: imaplib.IMAP4 | None = None
        self.selected: str | None = None
        self._capabilities: frozenset[str] | None = None

    def end(self, *, failed: bool) -> None:
        self.logout()

    def connect(self) -> None:
        s = self.settings

        def open_client() -> imaplib.IMAP4:
            if s.use_ssl:
                context = ssl.create_default_context()
                return imaplib.IMAP4_SSL(
                    s.host, s.port or 993, ssl_context=context, timeout=s.timeout
                )
            return imaplib.IMAP4(s.host, s.port or 143, timeout=s.timeout)

        client = opened("IMAP", s.host, imaplib.IMAP4.error, open_client)
        try:
            client.login(s.username, s.password)
        except imaplib.IMAP4.abort as exc:
            raise TransientSyncError(
                f"IMAP login aborted: {exc}", code="mail_server_unavailable"
            ) from exc
        except imaplib.IMAP4.error as exc:
            text = str(exc)
            client.shutdown()
            if "UNAVAILABLE" in text or "Temporary" in text:
                raise TransientSyncError(
                    f"IMAP login failed: {text}", code="mail_server_unavailable"
                ) from exc
            raise authentication_failed(f"IMAP login refused: {text}") from exc
        except OSError as exc:
            raise network_error("IMAP login failed", exc) from exc
        self._client = client

    @property
    def client(self) -> imaplib.IMAP4:
        if self._client is None:
            raise TransientSyncError("IMAP session is not open", code="mail_server_unavailable")
        return self._client

    def logout(self) -> None:
        if self._client is None:
            return
        try:
            self._client.logout()
        except (OSError, imaplib.IMAP4.error):
            logger.debug("IMAP logout failed", exc_info=True)
        self._client = None
        self.selected = None
        self._capabilities = None

    # --- commands -------------------------------------------------------------------------
    def _call(self, what: str, *args: object) -> list[object]:
        return self._checked(f"IMAP {what.upper()}", getattr(self.client, what), *args)

    def _uid(self, command: str, *args: str) -> list[object]:
        return self._checked(f"IMAP UID {command}", self.client.uid, command, *args)

    @staticmethod
    def _checked(label: str, command: Callable[..., Any], *args: object) -> list[object]:
        """Runs one IMAP command; lost connections are transient, refusals permanent."""
        try:
            typ, data = command(*args)
        except imaplib.IMAP4.abort as exc:
            raise TransientSyncError(
                f"{label} aborted: {exc}", code="mail_server_unavailable"
            ) from exc
        except imaplib.IMAP4.error as exc:
            raise PermanentSyncError(
                f"{label} failed: {exc}",
                code="mail_server_refused",
                affects_mailbox=False,
            ) from exc
        except OSError as exc:
            raise TransientSyncError(
                f"{label} failed: {exc}", code="mail_server_unavailable"
            ) from exc
        if typ != "OK":
            raise TransientSyncError(
                f"{label} answered {typ}: {data!r}", code="mail_server_unavailable"
            )
        return list(data)

    def list_folders(self) -> list[ImapFolder]:
        folders = []
        for line in self._call("list"):
            if not isinstance(line, bytes):
                continue
            match = _LIST_RE.match(line)
            if not match:
                continue
            flags = tuple(match.group("flags").decode("ascii", "replace").split())
            sep = match.group("sep").decode("ascii", "replace").strip('"')
            name = _unquote(match.group("name"))
            folders.append(ImapFolder(name=name, flags=flags, separator=sep))
        return folders

    def select(self, folder: str, *, readonly: bool = True) -> int:
        """Open a folder; returns its UIDVALIDITY."""
        try:
            typ, data = self.client.select(_quote(folder), readonly=readonly)
        except imaplib.IMAP4.abort as exc:
            raise TransientSyncError(
                f"IMAP SELECT {folder} aborted: {exc}", code="mail_server_unavailable"
            ) from exc
        except (imaplib.IMAP4.error, OSError) as exc:
            raise TransientSyncError(
                f"IMAP SELECT {folder} failed: {exc}", code="mail_server_unavailable"
            ) from exc
        if typ != "OK":
            raise PermanentSyncError(
                f"IMAP folder {folder!r} cannot be opened: {data!r}",
                code="folder_not_found",
                affects_mailbox=False,
            )
        self.selected = folder
        _typ, validity = self.client.response("UIDVALIDITY")
        if validity and validity[0]:
            return int(validity[0])
        # Some servers only send it in STATUS.
        status = self._call("status", _quote(folder), "(UIDVALIDITY)")
        match = _UIDVALIDITY_RE.search(status[0] if isinstance(status[0], bytes) else b"")
        return int(match.group(1)) if match else 0

    def uids_after(self, last_uid: int, *, since: datetime | None = None) -> list[int]:
        """UIDs greater than last_uid in the selected folder, ascending; with `since`, only
        messages that arrived on or after that day (the server compares dates, not times)."""
        criteria = [f"UID {last_uid + 1}:*"]
        if since is not None:
            criteria.append(f"SINCE {since.strftime('%d-%b-%Y')}")
        uids = _uids(self._uid("SEARCH", *criteria))
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(u for u in uids if u > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of each message, to fetch in batches of bounded memory."""
        if not uids:
            return {}
        found: dict[int, int] = {}
        for item in self._uid("FETCH", _uid_set(uids), "(UID RFC822.SIZE)"):
            meta = item[0] if isinstance(item, tuple) else item
            if not isinstance(meta, bytes):
                continue
            uid = _UID_RE.search(meta)
            size = _SIZE_RE.search(meta)
            if uid and size:
                found[int(uid.group(1))] = int(size.group(1))
        return found

    def fetch(self, uids: Sequence[int]) -> Iterator[ImapMessage]:
        """Fetch whole messages without setting \\Seen, in one round trip per call."""
        if not uids:
            return
        data = self._uid("FETCH", _uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, raw = item[0], item[1]
            match = _UID_RE.search(meta)
            if not match:
                continue
            date_match = _INTERNALDATE_RE.search(meta)
            internal = None
            if date_match:
                try:
                    internal = datetime.strptime(
                        date_match.group(1).decode("ascii"), "%d-%b-%Y %H:%M:%S %z"
                    )
                except ValueError:
                    internal = None
            yield ImapMessage(uid=int(match.group(1)), internal_date=internal, raw=bytes(raw))

    def search_header(self, header: str, value: str) -> list[int]:
        return _uids(self._uid("SEARCH", "HEADER", header, _quote(value)))

    def search(self, *criteria: str) -> list[int]:
        """UID SEARCH in the selected folder; each criterion quoted where it must be."""
        return _uids(self._uid("SEARCH", *(_quote(c) for c in criteria)))

    def header_fields(self, uids: Sequence[int], names: Sequence[str]) -> dict[int, bytes]:
        """These header fields of each message (without setting \\Seen), as raw bytes."""
        if not uids:
            return {}
        wanted = " ".join(n.upper() for n in names)
        found: dict[int, bytes] = {}
        for item in self._uid(
            "FETCH", _uid_set(uids), f"(UID BODY.PEEK[HEADER.FIELDS ({wanted})])"
        ):
            if not isinstance(item, tuple):
                continue
            match = _UID_RE.search(item[0])
            if match:
                found[int(match.group(1))] = bytes(item[1])
        return found

    def store_flags(self, uids: Sequence[int], flags: str) -> None:
        if uids:
            self._uid("STORE", _uid_set(uids), "+FLAGS.SILENT", flags)

    def copy(self, uids: Sequence[int], folder: str) -> None:
        if uids:
            self._uid("COPY", _uid_set(uids), _quote(folder))

    def append(
        self, folder: str, raw: bytes, *, flags: str = "", date: datetime | None = None
    ) -> None:
        when = imaplib.Time2Internaldate(date.timestamp()) if date else None
        self._call("append", _quote(folder), flags or None, when, raw)

    def create_folder(self, folder: str) -> None:
        self._call("create", _quote(folder))

    def has_capability(self, name: str) -> bool:
        """Whether the server offers it after login (many servers announce more then than in
        their greeting, which is all imaplib remembers)."""
        if self._capabilities is None:
            data = self._call("capability")
            words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
            self._capabilities = frozenset(words.upper().split())
        return name.upper() in self._capabilities

    def sent_folder(self) -> str | None:
        """The folder for sent mail: the one marked \\Sent (RFC 6154 SPECIAL-USE, which
        servers announce in LIST), else the first of the usual names; None without one."""
        return choose_sent_folder(self.list_folders())

    def delete_messages(self, uids: Sequence[int]) -> bool:
        """Delete these messages of the selected folder (opened read-write); False when the
        server cannot expunge them alone (no UIDPLUS): they are then only flagged
        \\Deleted, and the next EXPUNGE of a mail client removes them."""
        if not uids:
            return True
        uid_set = _uid_set(uids)
        self._uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted \\Seen)")
        if not self.has_capability("UIDPLUS"):
            return False
        self._uid("EXPUNGE", uid_set)
        return True

    def mark_deleted_and_expunge(self, uids: Sequence[int]) -> None:
        if not uids:
            return
        self._uid("STORE", ",".join(str(u) for u in uids), "+FLAGS.SILENT", "(\\Deleted)")
        self._call("expunge")


# Where servers without SPECIAL-USE keep sent mail, in the order they are tried.
SENT_FOLDER_NAMES = (
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
    "[Gmail]/Sent Mail",
)


def choose_sent_folder(folders: Sequence[ImapFolder]) -> str | None:
    selectable = [f for f in folders if f.is_selectable]
    for folder in selectable:
        if "\\sent" in {flag.lower() for flag in folder.flags}:
            return folder.name
    by_name = {f.name.lower(): f.name for f in selectable}
    for name in SENT_FOLDER_NAMES:
        if name.lower() in by_name:
            return by_name[name.lower()]
    return None


def _uids(data: list[object]) -> list[int]:
    """The UIDs of a UID SEARCH answer."""
    uids: list[int] = []
    for chunk in data:
        if isinstance(chunk, bytes):
            uids.extend(int(x) for x in chunk.split())
    return uids


def _uid_set(uids: Sequence[int]) -> str:
    """A compact UID set: consecutive runs as ranges (1:500 rather than 500 numbers)."""
    ordered = sorted(set(uids))
    runs: list[str] = []
    start = previous = ordered[0]
    for uid in ordered[1:]:
        if uid == previous + 1:
            previous = uid
            continue
        runs.append(f"{start}:{previous}" if previous != start else str(start))
        start = previous = uid
    runs.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(runs)


def _quote(name: str) -> str:
    if name and re.fullmatch(r"[A-Za-z0-9_./-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text
