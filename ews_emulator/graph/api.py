"""Microsoft Graph v1.0: authentication, routing, OData query options and errors.

Every request needs an app-only bearer token from the emulator's Entra ID for
`https://graph.microsoft.com`; a route names the application role it needs and the mailbox
must lie in the application's scope. Resource handlers live in `mail.py` (and siblings).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.parse
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..identity import GRAPH_AUDIENCE, TokenError
from ..store import Folder, Mailbox
from . import ids, throttle
from .errors import GraphError, bad_request, policy_denied
from .web import JSON, base_url

if TYPE_CHECKING:
    from ..identity import App
    from ..server import EwsHandler

log = logging.getLogger("ews_emulator.graph")
MAIL = ("Mail.ReadWrite",)
MAIL_SEND = ("Mail.Send",)
WELL_KNOWN = {
    "inbox": "inbox",
    "drafts": "drafts",
    "sentitems": "sentitems",
    "deleteditems": "deleteditems",
    "junkemail": "junkemail",
    "outbox": "outbox",
    "msgfolderroot": "msgfolderroot",
    "recoverableitemsdeletions": "recoverableitemsdeletions",
    "calendar": "calendar",
    "contacts": "contacts",
    "tasks": "tasks",
}
ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))
IMMUTABLE_PREFER = re.compile(r'idtype\s*=\s*"?immutableid"?', re.IGNORECASE)
MAX_PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class Response:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = JSON


@dataclass
class Request:
    """One Graph call, as the handlers see it."""

    server: Any
    method: str
    path: list[str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base: str
    app: App | None = None
    mailbox: Mailbox | None = None
    applied: list[str] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.server.store

    @property
    def user(self) -> Mailbox:
        assert self.mailbox is not None
        return self.mailbox

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise bad_request("Unable to read JSON request payload.", "RequestBodyRead") from None
        if not isinstance(value, dict):
            raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
        return value

    @property
    def prefer(self) -> str:
        return self.headers.get("prefer", "")

    @property
    def immutable(self) -> bool:
        return bool(IMMUTABLE_PREFER.search(self.prefer))

    def page_size(self, default: int, maximum: int = 1000) -> int:
        match = MAX_PAGE_SIZE.search(self.prefer)
        if match is None:
            return default
        size = max(1, min(int(match.group(1)), maximum))
        self.applied.append(f"odata.maxpagesize={size}")
        return size

    def item_id(self, ews_id: str) -> str:
        """The Graph id of an item in the form the caller asked for (Prefer IdType)."""
        if self.immutable:
            return ids.immutable_id(self.store, ews_id)
        return ids.rest_id(ews_id)

    def select(self) -> list[str] | None:
        value = self.query.get("$select")
        return [s.strip() for s in value.split(",") if s.strip()] if value else None

    def user_url(self) -> str:
        return f"{self.base}/v1.0/users/{urllib.parse.quote(self.user.smtp)}"

    def folder(self, given: str) -> Folder:
        """A folder by well-known name or Graph id, in the caller's mailbox."""
        store = self.store
        name = WELL_KNOWN.get(given.lower())
        folder = (
            store.distinguished_folder(self.user.id, name)
            if name
            else store.folder(ids.ews_id(given))
        )
        if folder is None or folder.mailbox_id != self.user.id:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return folder


Handler = Callable[[Request, list[str]], Response]
# (method, path pattern after /users/{id}/ with "*" for an id, handler, roles: any of them)
ROUTES: list[tuple[str, tuple[str, ...], Handler, tuple[str, ...]]] = []


def route(
    method: str, *pattern: str, roles: tuple[str, ...] = MAIL
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append((method, pattern, fn, roles))
        return fn

    return register


def _match(method: str, rest: list[str]) -> tuple[Handler, list[str], tuple[str, ...]] | None:
    """The route for a path; literal segments win over ids (`contacts/delta`, not an id)."""
    known_path = False
    best: tuple[int, Handler, list[str], tuple[str, ...]] | None = None
    for r_method, pattern, fn, roles in ROUTES:
        if len(pattern) != len(rest):
            continue
        args = []
        for want, got in zip(pattern, rest, strict=True):
            if want == "*":
                args.append(got)
            elif want.lower() != got.lower():
                break
        else:
            known_path = True
            score = len(pattern) - len(args)
            if r_method == method and (best is None or score > best[0]):
                best = (score, fn, args, roles)
    if best is not None:
        return best[1], best[2], best[3]
    if known_path:
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed.")
    return None


def _nested_contact_folder(rest: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """`contactFolders/{a}/childFolders/{b}/.../{tail}` is `contactFolders/{last}/{tail}`,
    each folder of the chain a child of the one before (checked once the mailbox is known):
    the paths the contact and contactFolder pages give for a folder at any depth
    (https://learn.microsoft.com/graph/api/user-list-contacts,
    https://learn.microsoft.com/graph/api/contactfolder-permanentdelete)."""
    nesting: list[tuple[str, str]] = []
    while (
        len(rest) >= 4 and rest[0].lower() == "contactfolders" and rest[2].lower() == "childfolders"
    ):
        nesting.append((rest[1], rest[3]))
        rest = [rest[0], *rest[3:]]
    return rest, nesting


def find_user(server: Any, given: str) -> Mailbox | None:
    mailbox = server.store.mailbox(given) if "@" in given else None
    if mailbox is not None:
        return mailbox
    for candidate in server.store.mailboxes():
        if user_object_id(candidate) == given.lower():
            return candidate
    return None


def user_object_id(mailbox: Mailbox) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{mailbox.smtp.lower()}"))


# Outlook's resources take at most 4 MB in one request, an upload session's ranges included
# (https://learn.microsoft.com/graph/outlook-large-attachments).
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def serve_graph(handler: EwsHandler, method: str, parts: urllib.parse.SplitResult) -> None:
    body = handler._body()
    request_id = str(uuid.uuid4())
    headers = {k.lower(): v for k, v in handler.headers.items()}
    query = {
        k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()
    }
    # OData function calls may carry empty parentheses: `messages/delta()` is `messages/delta`.
    segments = [urllib.parse.unquote(s).removesuffix("()") for s in parts.path.split("/") if s]
    req = Request(
        server=handler.server,
        method=method,
        path=segments[1:],
        query=query,
        headers=headers,
        body=body,
        base=base_url(handler),
    )
    if len(body) > MAX_REQUEST_BYTES:
        response = Response(
            413,
            GraphError(
                413,
                "ErrorRequestEntityTooLarge",
                f"The request body of {len(body)} bytes exceeds the maximum request size of "
                f"{MAX_REQUEST_BYTES} bytes; attach large files through an upload session.",
            ).body(request_id),
        )
    else:
        response = execute(req, request_id)
    out_headers = {"request-id": request_id, "client-request-id": request_id}
    if req.applied:
        out_headers["Preference-Applied"] = ", ".join(req.applied)
    out_headers.update(response.headers)
    if response.raw is not None:
        body, content_type = response.raw, response.content_type
    elif response.payload is None:
        body, content_type = b"", JSON
    else:
        body, content_type = ENCODER.encode(response.payload).encode("utf-8"), ODATA_JSON
    send_whole(handler, response.status, body, content_type, out_headers)


def send_whole(
    handler: EwsHandler, status: int, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    """Status line, headers and body in one write: a response split in two segments costs a
    client on the same machine a scheduling round trip per request."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name, value)
    buffered = getattr(handler, "_headers_buffer", None)
    if buffered is None:
        handler.end_headers()
        handler.wfile.write(body)
        return
    buffered.append(b"\r\n")
    if handler.command != "HEAD":
        buffered.append(body)
    handler.flush_headers()


def execute(req: Request, request_id: str) -> Response:
    """Answer one Graph request (of a batch, too), errors included."""
    try:
        return dispatch(req)
    except GraphError as e:
        return Response(e.status, e.body(request_id), e.headers)
    except Exception:
        log.exception("Graph %s %s failed", req.method, "/".join(req.path))
        return Response(
            500, GraphError(500, "InternalServerError", "An internal error occurred.").body()
        )


MAX_BATCH = 20
# Graph hands up to four requests of a batch to Outlook at once, whatever their mailbox, and
# each counts against the mailbox's concurrency like a request of its own
# (https://learn.microsoft.com/graph/json-batching, "Sequencing requests with the dependsOn
# property"; https://learn.microsoft.com/answers/questions/1660054): a batch of 20 with a
# request of the same mailbox in flight beside it meets `429 MailboxConcurrency`.
BATCH_PARALLEL = 4


def batch(req: Request) -> Response:
    """JSON batching: up to 20 requests, four at a time, a request with `dependsOn` once the
    ones it names have answered (`424 FailedDependency` when one failed).
    https://learn.microsoft.com/graph/json-batching"""
    requests = req.json().get("requests")
    if not isinstance(requests, list) or not requests:
        raise bad_request("The batch must hold a non-empty 'requests' array.", "BadRequest")
    if len(requests) > MAX_BATCH:
        raise bad_request(
            f"The number of requests in the batch exceeds the maximum of {MAX_BATCH}.",
            "BadRequest",
        )
    ids_seen = [str((r or {}).get("id", "")) for r in requests]
    if len(set(ids_seen)) != len(ids_seen) or not all(ids_seen):
        raise bad_request("Every request of a batch needs a unique id.", "BadRequest")
    pool = throttle.attached(
        req.server,
        "graph_batch_pool",
        lambda: ThreadPoolExecutor(max_workers=32, thread_name_prefix="graph-batch"),
    )
    statuses: dict[str, int] = {}
    answers: dict[str, dict[str, Any]] = {}
    waiting = list(requests)
    running: dict[Future[dict[str, Any]], str] = {}
    while waiting or running:
        for item in list(waiting):
            if len(running) >= BATCH_PARALLEL:
                break
            request_id = str(item["id"])
            depends = [str(d) for d in item.get("dependsOn") or []]
            if any(d in ids_seen and d not in statuses for d in depends):
                continue  # its dependencies have not answered yet
            waiting.remove(item)
            if any(statuses.get(d, 424) >= 400 for d in depends):
                failed = GraphError(424, "FailedDependency", "A request it depends on failed.")
                statuses[request_id] = 424
                answers[request_id] = {"id": request_id, "status": 424, "body": failed.body()}
                continue
            running[pool.submit(_batch_answer, req, item)] = request_id
        if not running:
            # Only requests depending on each other in a circle are left.
            for item in waiting:
                failed = GraphError(424, "FailedDependency", "A request it depends on failed.")
                statuses[str(item["id"])] = 424
                answers[str(item["id"])] = {
                    "id": str(item["id"]),
                    "status": 424,
                    "body": failed.body(),
                }
            break
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            request_id = running.pop(future)
            answers[request_id] = future.result()
            statuses[request_id] = int(answers[request_id]["status"])
    return Response(200, {"responses": [answers[i] for i in ids_seen]})


def _batch_answer(req: Request, item: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request of a batch, as its entry in the batch's answer."""
    request_id = str(item["id"])
    url = urllib.parse.urlsplit(str(item.get("url") or ""))
    path = [urllib.parse.unquote(p).removesuffix("()") for p in url.path.split("/") if p]
    if path[:1] == ["v1.0"]:
        path = path[1:]
    headers = {"authorization": req.headers.get("authorization", "")}
    headers.update({str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()})
    body = item.get("body")
    sub = Request(
        server=req.server,
        method=str(item.get("method") or "GET").upper(),
        path=path,
        query={k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()},
        headers=headers,
        body=json.dumps(body).encode() if body is not None else b"",
        base=req.base,
    )
    if path[:1] == ["$batch"]:
        answer = Response(400, bad_request("Batches cannot be nested.").body())
    else:
        answer = execute(sub, request_id)
    entry: dict[str, Any] = {"id": request_id, "status": answer.status}
    entry["headers"] = dict(answer.headers)
    if sub.applied:
        entry["headers"]["Preference-Applied"] = ", ".join(sub.applied)
    if answer.raw is not None:
        entry["body"] = base64.b64encode(answer.raw).decode()
        entry["headers"]["Content-Type"] = answer.content_type
    elif answer.payload is not None:
        entry["body"] = answer.payload
        entry["headers"]["Content-Type"] = "application/json"
    return entry


def authenticate(req: Request) -> dict[str, Any]:
    header = req.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
    try:
        return dict(req.server.identity.validate(token.strip(), GRAPH_AUDIENCE))
    except TokenError as e:
        raise GraphError(401, "InvalidAuthenticationToken", str(e)) from None


def dispatch(req: Request) -> Response:
    from . import calendar, mail, pim  # noqa: F401 - they register their routes

    if req.path[:1] == ["$upload"] and len(req.path) == 2:
        # An upload session's URL authorizes by itself (no bearer token), as Graph's does.
        return mail.upload_chunk(req.server, req.method, req.path[1], req.headers, req.body)
    claims = authenticate(req)
    path = req.path
    if path == ["$batch"] and req.method == "POST":
        return batch(req)
    if path[:1] == ["subscriptions"]:
        from . import subscriptions

        return subscriptions.handle(req, claims)
    if path[:1] == ["me"]:
        raise bad_request("/me request is only valid with delegated authentication flow.")
    if len(path) < 2 or path[0].lower() != "users":
        raise bad_request(f"Resource not found for the segment '{path[0] if path else ''}'.")
    rest = path[2:]
    # mailFolders/{id}/messages/{id}/... is messages/{id}/...
    if (
        len(rest) >= 4
        and rest[0].lower() == "mailfolders"
        and rest[2].lower() == "messages"
        and rest[3].lower() != "delta"
    ):
        rest = rest[2:]
    rest, nesting = _nested_contact_folder(rest)
    found = _match(req.method, rest)
    if found is None:
        raise bad_request(f"Resource not found for the segment '{rest[-1] if rest else path[1]}'.")
    fn, args, roles = found
    granted = set(claims.get("roles") or ())
    if not granted & set(roles):
        raise GraphError(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    mailbox = find_user(req.server, path[1])
    if mailbox is None or not mailbox.has_mailbox:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{path[1]}' is invalid.")
    app = req.server.identity.app(str(claims.get("appid", "")))
    if app is None:
        raise GraphError(401, "InvalidAuthenticationToken", "The application no longer exists.")
    if not app.may_reach(mailbox.smtp):
        raise policy_denied()
    req.app, req.mailbox = app, mailbox
    for parent, child in nesting:
        if req.folder(child).parent_id != req.folder(parent).id:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
    fault = throttle.take_fault(req.store, "/".join(rest), mailbox.smtp, throttle.REQUEST_FAULTS)
    with throttle.limits_of(req.server).slot(app.client_id, mailbox.smtp):
        if fault is not None:
            throttle.apply_fault(fault)
        return fn(req, args)
