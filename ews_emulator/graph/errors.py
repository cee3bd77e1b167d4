"""Graph's error answers: `{"error": {"code", "message", "innerError"}}` with an HTTP status,
as https://learn.microsoft.com/graph/errors documents them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

# EWS response codes Graph passes through for Outlook resources, with their HTTP status.
EWS_STATUS = {
    "ErrorItemNotFound": 404,
    "ErrorFolderNotFound": 404,
    "ErrorAttachmentNotFound": 404,
    "ErrorInvalidIdMalformed": 400,
    "ErrorInvalidId": 400,
    "ErrorAccessDenied": 403,
    "ErrorIrresolvableConflict": 409,
    "ErrorFolderExists": 409,
    "ErrorInvalidRecipients": 400,
    "ErrorNonExistentMailbox": 404,
}


class GraphError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id or str(uuid.uuid4()),
                    "client-request-id": request_id or str(uuid.uuid4()),
                },
            }
        }


def from_ews(code: str, text: str) -> GraphError:
    return GraphError(EWS_STATUS.get(code, 400), code, text)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def not_found(what: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", what)


def policy_denied() -> GraphError:
    """A mailbox outside the application's scope, as an application access policy answers."""
    return GraphError(
        403,
        "ErrorAccessDenied",
        "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly "
        "AccessPolicy settings.",
    )
