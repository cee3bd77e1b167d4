"""The HTTP side: EWS SOAP endpoint, authentication, fault injection, control API routing."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

from . import control_api
from .auth import NtlmAcceptor
from .graph import web as graph_web
from .identity import EXCHANGE_AUDIENCE, AppPrincipal, Identity, TokenError
from .mailstore import DELIVERY_DELAY, MailStore
from .operations import OPERATIONS, Ctx, Streamed
from .soap import (
    DEFAULT_VERSION,
    SOAP_NS,
    SUPPORTED_VERSIONS,
    EwsError,
    SoapFault,
    child,
    envelope,
    fault_envelope,
    local,
    parse_xml,
    text_of,
)
from .store import Mailbox, Store

# The "mailbox server" this emulator answers as (one process stands for one server).
AFFINITY_COOKIE = "EMULATOR01~1941962754"
log = logging.getLogger("ews_emulator")
EWS_PATH = "/ews/exchange.asmx"
PARSER = etree.XMLParser(resolve_entities=False, huge_tree=True, no_network=True)
BUSY_TEXT = "The server cannot service this request right now. Try again later."


# Exchange 2013 and later: EWSMaxConcurrency of the default throttling policy.
DEFAULT_MAX_CONCURRENCY = 27
CONCURRENCY_TEXT = (
    "You have exceeded the available concurrent connections for your account. "
    "Try again once your other requests have completed."
)


class Concurrency:
    """EWS requests in progress per user; a request over the limit is refused at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}

    def enter(self, user: str) -> bool:
        key = user.lower()
        with self._lock:
            if self._active.get(key, 0) >= self.limit:
                return False
            self._active[key] = self._active.get(key, 0) + 1
            return True

    def leave(self, user: str) -> None:
        key = user.lower()
        with self._lock:
            left = self._active.get(key, 0) - 1
            if left > 0:
                self._active[key] = left
            else:
                self._active.pop(key, None)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        *,
        ntlm: bool = False,
        control_token: str | None = None,
        tls: tuple[str, str] | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        tenant: str | None = None,
        delivery_delay: float = DELIVERY_DELAY,
    ) -> None:
        super().__init__(address, EwsHandler)
        self.store = store
        self.concurrency = Concurrency(max_concurrency)
        # Entra ID and Graph (ews_emulator/graph/) live beside EWS on the same port.
        self.identity = Identity(store, tenant)
        self.mail = MailStore(store, delivery_delay=delivery_delay)
        self.ntlm = NtlmAcceptor(store) if ntlm else None
        self.control_token = control_token
        self.stopping = threading.Event()
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
            self.socket = context.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a comparison, not a bind
            host = "127.0.0.1"
        return f"{self.scheme}://{host!s}:{port}/EWS/Exchange.asmx"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away mid-request (reset, broken pipe, TLS cut short, timeout)
        is ordinary for a server: one line, not a traceback; anything else as before."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
            log.warning("client %s:%s went away: %r", *client_address[:2], error)
            return
        super().handle_error(request, client_address)


class EwsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    server: EmulatorServer
    ntlm_user: str | None = None
    ntlm_context: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    # -- plumbing --------------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/xml; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _challenge(self, ntlm_token: str | None = None) -> None:
        headers: list[tuple[str, str]] = []
        if ntlm_token:
            headers.append(("WWW-Authenticate", f"NTLM {ntlm_token}"))
        else:
            if self.server.ntlm is not None:
                headers.append(("WWW-Authenticate", "NTLM"))
                headers.append(("WWW-Authenticate", "Negotiate"))
            headers.append(("WWW-Authenticate", 'Basic realm="ews-emulator"'))
        self.send_response(401)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- routing ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        if graph_web.serve(self, "GET"):
            return
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/control"):
            self._control(b"")
        elif path.lower() == EWS_PATH:
            self._send(200, b"EWS emulator", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def do_DELETE(self) -> None:
        if graph_web.serve(self, "DELETE"):
            return
        self._control(self._body())

    def do_PATCH(self) -> None:
        if not graph_web.serve(self, "PATCH"):
            self._send(404, b"not found", "text/plain")

    def do_PUT(self) -> None:
        if not graph_web.serve(self, "PUT"):
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        if graph_web.serve(self, "POST"):
            return
        body = self._body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/control"):
            self._control(body)
        elif path.lower() == EWS_PATH:
            try:
                self._ews(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        else:
            self._send(404, b"not found", "text/plain")

    def _control(self, body: bytes) -> None:
        allowed = self.client_address[0] in ("127.0.0.1", "::1", "localhost")
        token = self.server.control_token
        if token is not None:
            allowed = self.headers.get("X-Control-Token") == token
        if not allowed:
            self._send(403, b'{"error": "forbidden"}', "application/json")
            return
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
        try:
            payload = json.loads(body) if body.strip() else {}
            status, result = control_api.handle(
                self.server, self.command, parts.path, query, payload
            )
        except control_api.ControlError as e:
            status, result = e.status, {"error": str(e)}
        except (ValueError, EwsError) as e:
            status, result = 400, {"error": str(e)}
        self._send(status, json.dumps(result).encode(), "application/json")

    # -- authentication --------------------------------------------------------------------

    def _authenticate(self) -> Mailbox | None:
        """The mailbox of the caller, or None after answering 401 (or an NTLM challenge)."""
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        scheme = scheme.lower()
        store = self.server.store
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            mailbox = find_user(store, user)
            if mailbox is not None and mailbox.password == password:
                return mailbox
        elif scheme in ("ntlm", "negotiate") and self.server.ntlm is not None:
            outcome = self.server.ntlm.step(self, token)
            if outcome is not None and outcome[0] == "challenge":
                self._challenge(ntlm_token=outcome[1])
                return None
            if outcome is not None:
                mailbox = find_user(store, outcome[1])
                if mailbox is not None:
                    self.ntlm_user = mailbox.smtp
                    return mailbox
        elif scheme == "bearer":
            return self._bearer(token)
        elif not header and self.ntlm_user:
            mailbox = store.mailbox(self.ntlm_user)
            if mailbox is not None:
                return mailbox
        self._challenge()
        return None

    def _bearer(self, token: str) -> Mailbox | None:
        """An app-only OAuth token (from the emulator's Entra ID) for Exchange Online."""
        identity = self.server.identity
        try:
            claims = identity.validate(token.strip(), EXCHANGE_AUDIENCE)
        except TokenError as e:
            reason = str(e)
        else:
            principal = identity.principal(claims)
            if principal.is_impersonator:
                return principal
            reason = "The token contains no permissions, or permissions can not be understood."
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
        self.send_header(
            "x-ms-diagnostics", f'2000008;reason="{reason}";error_category="invalid_token"'
        )
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    # -- EWS -------------------------------------------------------------------------------

    def _ews(self, body: bytes) -> None:
        version = DEFAULT_VERSION
        try:
            root = parse_xml(body, PARSER) if body else None
        except etree.XMLSyntaxError:
            root = None
        header = root.find(f"{{{SOAP_NS}}}Header") if root is not None else None
        soap_body = root.find(f"{{{SOAP_NS}}}Body") if root is not None else None
        request = (
            next((c for c in soap_body if isinstance(c.tag, str)), None)
            if soap_body is not None
            else None
        )
        requested = child(header, "RequestServerVersion")
        if requested is not None:
            version = requested.get("Version", DEFAULT_VERSION)
        op = local(request.tag) if request is not None else ""
        impersonated = None
        impersonation = child(header, "ExchangeImpersonation")
        if impersonation is not None:
            sid = child(impersonation, "ConnectingSID")
            impersonated = (
                text_of(sid, "PrimarySmtpAddress")
                or text_of(sid, "SmtpAddress")
                or text_of(sid, "PrincipalName")
            )
        user = impersonated or self._user_hint()
        # A hanging GetStreamingEvents connection counts against its own limit in Exchange.
        counted = user is not None and op != "GetStreamingEvents"
        if counted and not self.server.concurrency.enter(user):  # type: ignore[arg-type]
            details = {
                "Policy": "MaxConcurrency",
                "MaxConcurrencyLimit": str(self.server.concurrency.limit),
            }
            self._send(
                500,
                fault_envelope(SoapFault("ErrorServerBusy", CONCURRENCY_TEXT, details), version),
            )
            return
        try:
            self._operation(version, request, op, impersonated, user)
        finally:
            if counted:
                self.server.concurrency.leave(user)  # type: ignore[arg-type]

    def _operation(
        self, version: str, request: Any, op: str, impersonated: str | None, user: str | None
    ) -> None:
        fault = self.server.store.take_fault(op, user)
        forced: EwsError | None = None
        if fault is not None:
            kind = fault["kind"]
            if kind == "delay":
                time.sleep(fault["delay_ms"] / 1000.0)
            elif kind == "drop":
                self._drop()
                return
            elif kind == "http_500":
                html = b"<html><body><h1>Server Error in '/EWS' Application.</h1></body></html>"
                self._send(500, html, "text/html")
                return
            elif kind == "http_503":
                self._send(503, b"<html><body>Service Unavailable</body></html>", "text/html")
                return
            elif kind == "auth_failure":
                self._challenge()
                return
            elif kind == "http_403":
                self._send(403, b"<html><body>403 Forbidden</body></html>", "text/html")
                return
            elif kind == "http_429":
                seconds = str(max(1, (fault["back_off_ms"] or 1000) // 1000))
                body = b"<html><body>Too Many Requests</body></html>"
                self._send(429, body, "text/html", {"Retry-After": seconds})
                return
            elif kind == "garbage":
                self._send(200, b"<html><body>Proxy error: upstream said \x00?</body", "text/xml")
                return
            elif kind == "server_busy":
                back_off = str(fault["back_off_ms"] or 1000)
                busy = SoapFault("ErrorServerBusy", BUSY_TEXT, {"BackOffMilliseconds": back_off})
                self._send(500, fault_envelope(busy, version))
                return
            elif kind == "invalid_sync_state":
                forced = EwsError(
                    "ErrorInvalidSyncStateData",
                    "Synchronization state data is corrupt or otherwise invalid.",
                )
        auth = self._authenticate()
        if auth is None:
            return
        try:
            if request is None:
                raise SoapFault("ErrorInvalidRequest", "The request is invalid.")
            if version not in SUPPORTED_VERSIONS:
                raise SoapFault(
                    "ErrorInvalidServerVersion", "The specified server version is invalid."
                )
            target = auth
            if isinstance(auth, AppPrincipal) and not impersonated:
                raise SoapFault(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    "ExchangeImpersonation SOAP header must be present for this type of OAuth "
                    "token.",
                )
            if impersonated:
                if not auth.is_impersonator:
                    raise SoapFault(
                        "ErrorImpersonateUserDenied",
                        "The account does not have permission to impersonate the requested user.",
                    )
                found = self.server.store.mailbox(impersonated)
                if found is None or not found.has_mailbox:
                    raise SoapFault(
                        "ErrorNonExistentMailbox",
                        f"The SMTP address has no mailbox associated with it: {impersonated}",
                    )
                target = found
                if isinstance(auth, AppPrincipal) and not auth.may_reach(found.smtp):
                    raise SoapFault(
                        "ErrorAccessDenied",
                        "Access is denied. The application's mailbox scope (RBAC for "
                        f"Applications) does not include {found.smtp}.",
                    )
            handler = OPERATIONS.get(op)
            if handler is None:
                raise SoapFault("ErrorInvalidRequest", f"The operation {op} is not supported.")
            ctx = Ctx(
                store=self.server.store,
                mail=self.server.mail,
                auth=auth,
                target=target,
                version=version,
                stopping=self.server.stopping,
                forced_error=forced,
            )
            result = handler(ctx, request)
        except SoapFault as f:
            self._send(500, fault_envelope(f, version))
            return
        except EwsError as e:
            self._send(500, fault_envelope(SoapFault(e.code, e.text, e.values), version))
            return
        except Exception:
            log.exception("operation %s failed", op)
            internal = SoapFault("ErrorInternalServerError", "An internal server error occurred.")
            self._send(500, fault_envelope(internal, version))
            return
        if isinstance(result, Streamed):
            self._stream(result)
            return
        headers = {}
        if (self.headers.get("X-PreferServerAffinity") or "").lower() == "true":
            # Affinity for a group of subscriptions: the client sends this cookie back so
            # that its requests reach the same server.
            cookie = self.headers.get("X-BackEndOverrideCookie") or AFFINITY_COOKIE
            headers["Set-Cookie"] = f"X-BackEndOverrideCookie={cookie}; path=/"
        self._send(200, envelope(result, version), headers=headers)

    def _user_hint(self) -> str | None:
        """The caller's own address, from Basic credentials or the anchor header."""
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                user = base64.b64decode(header[6:]).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                return None
            mailbox = find_user(self.server.store, user)
            return mailbox.smtp if mailbox else user
        return self.headers.get("X-AnchorMailbox") or self.ntlm_user

    def _stream(self, result: Streamed) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for doc in result.documents:
                self.wfile.write(f"{len(doc):x}\r\n".encode() + doc + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            close = getattr(result.documents, "close", None)
            if close is not None:
                close()


def find_user(store: Store, user: str) -> Mailbox | None:
    """A mailbox by logon name: `alice@example.com`, `DOMAIN\\alice` or `alice`."""
    user = user.strip()
    if "\\" in user:
        user = user.split("\\", 1)[1]
    mailbox = store.mailbox(user)
    if mailbox is not None or "@" in user:
        return mailbox
    for candidate in store.mailboxes():
        if candidate.smtp.split("@")[0].lower() == user.lower():
            return candidate
    return None
