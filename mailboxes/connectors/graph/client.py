"""A small typed Microsoft Graph client on urllib3 (`transport`), for one mailbox.

Why not Microsoft's msgraph-sdk: it is async-only (every call needs an event loop, which a
prefork Celery worker does not run), pulls in Kiota's whole stack for a few dozen endpoints,
and hides the HTTP status and headers the engine needs (Retry-After, 410 on a delta link).

Every request: a bearer token from `tokens` (one new token and a second try on 401),
`Prefer: IdType="ImmutableId"` so that ids survive moves, one of the mailbox's request slots
across the installation (`limits`), the profile's timeout, and errors mapped by `errors`. A
`path` is relative to `/users/{mailbox}/`; a full URL (`@odata.nextLink`, `@odata.deltaLink`)
is used as is once it is checked to be on the profile's Graph host, so that the token is never
sent anywhere else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mailboxes.connectors import ErrorKind, PermanentSyncError, TransientSyncError, network_error
from mailboxes.connectors.graph import limits, tokens, transport
from mailboxes.connectors.graph.errors import DeltaTokenLost, error_for
from mailboxes.connectors.settings import GraphSettings

logger = logging.getLogger(__name__)

IMMUTABLE_IDS = 'IdType="ImmutableId"'
MAX_BATCH = 20  # https://learn.microsoft.com/graph/json-batching
# Graph hands up to four requests of a batch to the mailbox at once, each counting against
# its concurrency limit (https://learn.microsoft.com/answers/questions/1660054): a batch
# holds that many of the mailbox's request slots.
BATCH_PARALLEL = 4
# National clouds' Graph hosts; any other endpoint host (a proxy, a test server) still asks
# Entra ID for a token for Graph itself.
GRAPH_HOSTS = frozenset(
    {
        "graph.microsoft.com",
        "graph.microsoft.us",
        "dod-graph.microsoft.us",
        "microsoftgraph.chinacloudapi.cn",
    }
)


def graph_scope(endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or ""
    resource = host if host in GRAPH_HOSTS else "graph.microsoft.com"
    return f"https://{resource}/.default"


@dataclass(frozen=True)
class DeltaPage:
    """One page of a delta query: changed or new items, ids removed from the collection
    (deleted or moved out), and the link to the next page or, on the last page, the delta
    link to keep for the next sync."""

    items: list[dict[str, Any]]
    removed: list[str]
    next_link: str | None
    delta_link: str | None


@dataclass(frozen=True)
class BatchRequest:
    """One request of a `$batch`: `url` relative to the mailbox like any path."""

    id: str
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[str] = ()


@dataclass(frozen=True)
class BatchResponse:
    id: str
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class GraphClient:
    """Graph requests on behalf of one mailbox (see the module's docstring)."""

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings
        parts = urlsplit(settings.endpoint)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.base = settings.user_url  # ends with "/"
        self.scope = graph_scope(settings.endpoint)
        # The roles of the current token, to name a missing one when Graph answers 403.
        self.token_roles: frozenset[str] | None = None
        self._last_token = ""

    def __repr__(self) -> str:
        return f"GraphClient({self.settings.mailbox_address!r}, {self.settings.endpoint!r})"

    # -- the contract --------------------------------------------------------------------

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._json(self.request("GET", path, params=params, headers=headers))

    def get_bytes(self, path: str) -> bytes:
        """The raw body of a GET: a message's MIME (`messages/{id}/$value`), a file."""
        return self.request("GET", path, headers={"Accept": "*/*"}).content

    def post(
        self, path: str, json: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        """POST; None for an empty answer (202 of `send`, 204)."""
        response = self.request("POST", path, json=json, headers=headers)
        return self._json(response) if response.content else None

    def post_text(self, path: str, text: str) -> dict[str, Any] | None:
        """POST a text/plain body: a message from base64 MIME
        (https://learn.microsoft.com/graph/outlook-send-mime-message)."""
        response = self.request(
            "POST", path, headers={"Content-Type": "text/plain"}, data=text.encode("ascii")
        )
        return self._json(response) if response.content else None

    def patch(self, path: str, json: Any) -> dict[str, Any]:
        response = self.request("PATCH", path, json=json)
        return self._json(response) if response.content else {}

    def put_bytes(
        self, url: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        """A chunk to an upload session's URL, which authorizes by itself: no token is sent
        (https://learn.microsoft.com/graph/outlook-large-attachments)."""
        if not url.startswith("https://") and not url.startswith(self.origin + "/"):
            raise PermanentSyncError(
                f"Refused to upload to a non-HTTPS URL {url}", code="insecure_upload_url"
            )
        response = self._send("PUT", url, data=data, headers=dict(headers or {}), auth=False)
        return self._json(response) if response.content else None

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def pages(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Each page (the answer's JSON, items under `value`), following `@odata.nextLink`."""
        page = self.get(path_or_url, params=params, headers=headers)
        while True:
            yield page
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            page = self.get(str(next_link), headers=headers)

    def items(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Each item of every page."""
        for page in self.pages(path_or_url, params=params, headers=headers):
            yield from page.get("value") or ()

    def delta(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        page_size: int = 100,
    ) -> Iterator[DeltaPage]:
        """The pages of a delta query, from a collection's `.../delta` path (a first sync) or
        a kept delta link, until the page that carries the new delta link. A 410, or a link
        of another Graph host, raises `DeltaTokenLost`.

        From the second page on, the next page is fetched while the caller works on the
        current one (one page ahead, one helper thread, one more of the mailbox's request
        slots): the caller's database work and Graph's work on the next page overlap. The
        first page is fetched in the caller's thread, so an idle folder (one page) starts
        no thread. An error fetching a page is raised when the caller asks for that page;
        closing the iterator early waits for the request in flight."""
        if "://" in path_or_url and not self._on_graph_host(path_or_url):
            raise DeltaTokenLost(
                "The kept delta link belongs to another Graph endpoint than the profile's.",
                code="delta_link_foreign",
            )
        headers = {"Prefer": f"odata.maxpagesize={page_size}"}

        def fetch(url: str, query: Mapping[str, str] | None) -> DeltaPage:
            return self._delta_page(self.get(url, params=query, headers=headers))

        page = fetch(path_or_url, params)  # the links carry the query from here on
        if page.next_link is None:
            yield page
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-delta") as pool:
            while True:
                link = page.next_link
                ahead: Future[DeltaPage] | None = pool.submit(fetch, link, None) if link else None
                yield page
                if ahead is None:
                    return
                page = ahead.result()

    @staticmethod
    def _delta_page(page: dict[str, Any]) -> DeltaPage:
        items, removed = [], []
        for item in page.get("value") or ():
            if "@removed" in item:
                removed.append(str(item.get("id")))
            else:
                items.append(item)
        next_link = page.get("@odata.nextLink")
        delta_link = page.get("@odata.deltaLink")
        return DeltaPage(
            items,
            removed,
            str(next_link) if next_link else None,
            str(delta_link) if delta_link else None,
        )

    def batch(self, requests_: Sequence[BatchRequest]) -> list[BatchResponse]:
        """The requests in `$batch` calls of at most 20, answers in the requests' order.

        Graph runs up to four requests of a batch at once, each counting against the
        mailbox's concurrency: a call holds that many of the mailbox's request slots, and
        when fewer are free (another request of the mailbox is in flight), it carries no
        more requests than the slots it holds.

        A request's `depends_on` must name requests of its own call. A failed sub-request
        is returned as it is (`error_of` maps it); the batch call itself fails like any
        request."""
        answers: dict[str, BatchResponse] = {}
        url = f"{self.origin}{self._version}/$batch"
        start = 0
        while start < len(requests_):
            wanted = min(BATCH_PARALLEL, len(requests_) - start)
            with self._slots(wanted) as held:
                size = MAX_BATCH if held.count == wanted else held.count
                chunk = requests_[start : start + size]
                held.cost = len(chunk)  # each request of a batch counts (`limits`)
                ids = {r.id for r in chunk}
                for r in chunk:
                    missing = set(r.depends_on) - ids
                    if missing:
                        raise ValueError(
                            f"batch request {r.id} depends on {missing} of another call"
                        )
                payload = {"requests": [self._batch_entry(r) for r in chunk]}
                response = self._json(self.request("POST", url, json=payload, held=True))
            start += len(chunk)
            for entry in response.get("responses") or ():
                answer = BatchResponse(
                    id=str(entry.get("id")),
                    status=int(entry.get("status") or 0),
                    headers=dict(entry.get("headers") or {}),
                    body=entry.get("body"),
                )
                answers[answer.id] = answer
        return [answers[r.id] for r in requests_ if r.id in answers]

    def error_of(self, answer: BatchResponse, path: str = "") -> Exception | None:
        """The connector error of a failed batch answer, None when it succeeded."""
        if answer.ok:
            return None
        return error_for(
            answer.status,
            answer.headers,
            answer.body,
            mailbox=self.settings.mailbox_address,
            path=path,
            token_roles=self.token_roles,
            app_id=self.settings.app.client_id,
        )

    # -- plumbing ------------------------------------------------------------------------

    @property
    def _version(self) -> str:
        """`/v1.0` (the endpoint's path)."""
        return urlsplit(self.settings.endpoint).path.rstrip("/")

    def _batch_entry(self, r: BatchRequest) -> dict[str, Any]:
        url = "/" + self._relative(r.url)
        headers = {"Prefer": IMMUTABLE_IDS, **dict(r.headers)}
        entry: dict[str, Any] = {"id": r.id, "method": r.method.upper(), "url": url}
        if r.body is not None:
            entry["body"] = r.body
            headers.setdefault("Content-Type", "application/json")
        entry["headers"] = headers
        if r.depends_on:
            entry["dependsOn"] = list(r.depends_on)
        return entry

    def _relative(self, path: str) -> str:
        """`users/{mailbox}/{path}` relative to the endpoint's version root."""
        root = self.settings.endpoint.rstrip("/") + "/"
        return self.url(path).removeprefix(root)

    def _on_graph_host(self, url: str) -> bool:
        return url == self.origin or url.startswith(self.origin + "/")

    def url(self, path_or_url: str) -> str:
        if "://" in path_or_url:
            if not self._on_graph_host(path_or_url):
                raise PermanentSyncError(
                    f"Refused to send the Graph token to {urlsplit(path_or_url).netloc}: "
                    f"not the profile's Graph host {self.origin}.",
                    code="foreign_url",
                    affects_mailbox=False,
                )
            return path_or_url
        return self.base + path_or_url.lstrip("/")

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        held: bool = False,
    ) -> transport.Response:
        """One authenticated Graph request, in one of the mailbox's request slots (unless
        the caller `held` them already); the answer when its status is 2xx."""
        url = self.url(path_or_url)
        merged = {"Prefer": IMMUTABLE_IDS, "Accept": "application/json"}
        for name, value in (headers or {}).items():
            if name.lower() == "prefer":
                merged["Prefer"] = f"{IMMUTABLE_IDS}, {value}"
            else:
                merged[name] = value
        return self._send(
            method, url, params=params, headers=merged, json=json, data=data, auth=True,
            held=held,
        )  # fmt: skip

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        auth: bool,
        held: bool = False,
    ) -> transport.Response:
        path = url.removeprefix(self.base) if url.startswith(self.base) else urlsplit(url).path
        for attempt in (1, 2):
            token = self._token() if auth else ""
            if auth:
                headers["Authorization"] = f"Bearer {token}"
            response = self._transmit(method, url, headers, params, json, data, held)
            logger.debug("Graph %s %s: %s", method, path, response.status_code)
            if response.status_code == 401 and auth and attempt == 1:
                tokens.forget_token(self.settings.app, token)
                continue
            if response.status_code < 400:
                return response
            break
        raise error_for(
            response.status_code,
            response.headers,
            self._error_body(response),
            mailbox=self.settings.mailbox_address,
            path=path,
            token_roles=self.token_roles,
            app_id=self.settings.app.client_id,
        )

    def _transmit(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: Mapping[str, str] | None,
        json: Any,
        data: bytes | None,
        held: bool,
    ) -> transport.Response:
        timeout = self.settings.timeout_seconds
        slot = contextlib.nullcontext(limits.Held(1)) if held else self._slots(1)
        try:
            with slot:
                return transport.send(
                    method, url, params=params, headers=headers, json=json, data=data,
                    timeout=timeout,
                )  # fmt: skip
        except transport.NetworkError as e:
            raise network_error(f"Graph at {self.origin}", e) from None

    def _slots(self, most: int) -> contextlib.AbstractContextManager[limits.Held]:
        """Up to `most` of the mailbox's request slots across the installation (`limits`)."""
        lease = self.settings.timeout_seconds + 30
        return limits.mailbox_slot(self.settings.mailbox_address, lease_seconds=lease, most=most)

    def _token(self) -> str:
        token = tokens.access_token(
            self.settings.app, self.scope, timeout=self.settings.timeout_seconds
        )
        if token != self._last_token:
            self._last_token = token
            self.token_roles = tokens.token_roles(token)
        return token

    @staticmethod
    def _error_body(response: transport.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    @staticmethod
    def _json(response: transport.Response) -> dict[str, Any]:
        try:
            value = response.json()
        except ValueError:
            raise TransientSyncError(
                f"Graph answered {response.status_code} with a body that is not JSON.",
                code="protocol_error",
                kind=ErrorKind.PROTOCOL,
            ) from None
        if not isinstance(value, dict):
            raise TransientSyncError(
                "Graph answered with JSON that is not an object.",
                code="protocol_error",
                kind=ErrorKind.PROTOCOL,
            )
        return value
