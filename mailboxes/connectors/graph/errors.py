"""Graph's HTTP answers → the connector error taxonomy (`mailboxes.connectors`).

Graph answers errors as `{"error": {"code", "message"}}` with an HTTP status
(https://learn.microsoft.com/graph/errors). What the engine needs to tell apart:

| answer | error |
| --- | --- |
| 401 (after one new token) | `authentication` (permanent) |
| 403 | `authentication`: the role the request needs and the token lacks, or the access policy |
| 404 on the user (`ErrorInvalidUser`, `MailboxNotEnabledForRESTAPI`...) | `mailbox_not_found` |
| 404 on an item or folder | `ItemNotFound`: `refused`, that item only |
| 410 | `DeltaTokenLost`: the delta link is no longer valid, sync again from scratch |
| 429, 503 with `Retry-After` | `throttled`, `retry_after` set; never slept on |
| other 5xx | `server` |
| other 4xx | `GraphRequestError`: `refused`, that operation only |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailboxes.connectors import (
    ErrorKind,
    PermanentSyncError,
    SyncError,
    TransientSyncError,
    authentication_failed,
)
from mailboxes.connectors.base import CursorLostError

# The Graph application permission (role) each kind of resource needs, by the first path
# segment below /users/{id}/. Sending needs Mail.Send; everything else of mail Mail.ReadWrite.
ROLE_OF_SEGMENT = {
    "messages": "Mail.ReadWrite",
    "mailfolders": "Mail.ReadWrite",
    "sendmail": "Mail.Send",
    "events": "Calendars.ReadWrite",
    "calendar": "Calendars.ReadWrite",
    "calendars": "Calendars.ReadWrite",
    "calendarview": "Calendars.ReadWrite",
    "calendargroups": "Calendars.ReadWrite",
    "contacts": "Contacts.ReadWrite",
    "contactfolders": "Contacts.ReadWrite",
    "todo": "Tasks.ReadWrite",
}
# Mailbox-level 404 codes: the user does not exist or has no Exchange Online mailbox.
MAILBOX_NOT_FOUND_CODES = frozenset(
    {
        "ErrorInvalidUser",
        "ErrorNonExistentMailbox",
        "MailboxNotEnabledForRESTAPI",
        "MailboxNotSupportedForRESTAPI",
        "Request_ResourceNotFound",
        "ResourceNotFound",
    }
)


class GraphRequestError(PermanentSyncError):
    """Graph refused one operation (a 4xx other than the mailbox-wide ones): that operation
    or item only. `status` and `graph_code` are Graph's."""

    def __init__(self, message: str, *, status: int, graph_code: str) -> None:
        super().__init__(
            message, code=graph_code or f"http_{status}", affects_mailbox=False,
            kind=ErrorKind.REFUSED,
        )  # fmt: skip
        self.status = status
        self.graph_code = graph_code


class ItemNotFound(GraphRequestError):
    """404 on an item or folder of the mailbox (deleted meanwhile, or a stale id)."""


class DeltaTokenLost(CursorLostError, TransientSyncError):
    """The delta link is no longer valid (410 Gone, or a link of another Graph endpoint):
    the folder must be synced again from an empty cursor. The engine resets the cursor and
    re-links what it finds by the CRM id stamped on each item, so nothing is duplicated.

    A `CursorLostError` (the seam's "cursor lost", which the email and ACT engines handle),
    and transient for an engine that does not know it: it is retried, not fatal."""

    def __init__(self, message: str, *, code: str = "delta_token_lost") -> None:
        super().__init__(message, code=code, kind=ErrorKind.SERVER)


def required_role(path: str) -> str | None:
    """The application role a request below /users/{id}/ needs (None: not known)."""
    segments = [s for s in path.split("?")[0].split("/") if s]
    lowered = [s.lower() for s in segments]
    if not lowered:
        return None
    if lowered[-1] in ("send", "sendmail", "reply", "replyall", "forward"):
        return "Mail.Send"
    return ROLE_OF_SEGMENT.get(lowered[0])


def graph_error_body(body: Any) -> tuple[str, str]:
    """(code, message) of a Graph error body; empty strings when it has none."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("code") or ""), str(error.get("message") or "")
    return "", ""


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds of a `Retry-After` header (delta-seconds only, as Graph sends it)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_for(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    mailbox: str,
    path: str,
    token_roles: frozenset[str] | None = None,
    app_id: str = "",
) -> SyncError:
    """The connector error of one Graph answer with an error status."""
    code, text = graph_error_body(body)
    said = f"Graph said {status} {code}: {text}".rstrip(": ")
    hint = retry_after(headers)
    if status == 401:
        return authentication_failed(
            f"Graph refused the application's token for {mailbox} ({said}): check the "
            "application's credentials and that the tenant still has it.",
            code="graph_unauthorized",
        )
    if status == 403:
        return _forbidden(code, text, said, mailbox, path, token_roles, app_id)
    # A path outside the mailbox (absolute: /v1.0/subscriptions/{id}) names no user: its 404
    # is about that object only.
    outside_mailbox = path.startswith("/")
    if (
        status == 404
        and not outside_mailbox
        and (code in MAILBOX_NOT_FOUND_CODES or not path.strip("/"))
    ):
        return PermanentSyncError(
            f"Microsoft 365 has no mailbox {mailbox}: check the address, and that the user "
            f"has an Exchange Online license ({said}).",
            code="mailbox_not_found",
            kind=ErrorKind.MAILBOX_NOT_FOUND,
        )
    if status == 404:
        return ItemNotFound(f"{path}: {said}", status=status, graph_code=code)
    if status == 410:
        return DeltaTokenLost(f"The delta link of {path} is no longer valid ({said}).")
    if status == 429 or (status == 503 and hint is not None):
        return TransientSyncError(
            f"Graph throttled requests for {mailbox} ({said}).",
            code=code or f"http_{status}",
            retry_after=hint,
            kind=ErrorKind.THROTTLED,
        )
    if status >= 500:
        return TransientSyncError(
            f"Graph failed ({said}).", code=code or "server_error", kind=ErrorKind.SERVER
        )
    return GraphRequestError(f"{path}: {said}", status=status, graph_code=code)


def _forbidden(
    code: str,
    text: str,
    said: str,
    mailbox: str,
    path: str,
    token_roles: frozenset[str] | None,
    app_id: str,
) -> SyncError:
    app = f"application {app_id}" if app_id else "the application"
    if "accesspolicy" in text.replace(" ", "").lower() or "RAOP" in text:
        return authentication_failed(
            f"{mailbox} is outside the mailboxes {app} may reach: add the mailbox to the "
            "application access policy's group (or the RBAC for Applications scope) in "
            f"Exchange Online ({said}).",
            code="mailbox_out_of_scope",
        )
    role = required_role(path)
    if role is not None and token_roles is not None and role not in token_roles:
        return authentication_failed(
            f"{app} lacks the Microsoft Graph application permission {role}: add it under "
            "API permissions (Microsoft Graph, Application permissions) and grant admin "
            f"consent, or assign it the role “Application {role}” with Exchange Online RBAC "
            f"for Applications ({said}).",
            code="missing_role",
        )
    return authentication_failed(
        f"Graph denied {app} access to {mailbox} ({said}).", code="access_denied"
    )
