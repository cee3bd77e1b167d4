"""Optimistic concurrency: an ETag per record, checked against `If-Match` on writes.

The ETag is derived from the primary key and `modified_at`, which every save moves on, so
any change by anyone (a user, the API, a mailbox sync) gives the record a new ETag.

`If-Match` is optional: a write without it is applied (last writer wins), a write with it is
applied only while the record still has one of the listed ETags, else 412 Precondition
Failed. Clients that care about lost updates send it; scripts that do not still work.
"""

from datetime import UTC, datetime, timedelta

from django.db.models import Model
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record was changed since you read it: fetch it again and retry."
    default_code = "precondition_failed"


def etag_for(instance: Model) -> str:
    return etag_of(instance.pk, instance.modified_at)  # type: ignore[attr-defined]


def etag_of(pk: object, modified_at: datetime) -> str:
    """The ETag of the record with this primary key and `modified_at`."""
    microseconds = (modified_at - _EPOCH) // timedelta(microseconds=1)
    return f'"{pk}-{microseconds}"'


def _listed_tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def check_if_match(request: Request, instance: Model) -> None:
    """Raise PreconditionFailed unless `If-Match` is absent, `*`, or lists the current ETag."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _listed_tags(header)
    if "*" in tags or etag_for(instance) in tags:
        return
    raise PreconditionFailed()


def if_none_match_hits(request: Request, instance: Model) -> bool:
    """True when the client's cached copy (`If-None-Match`) is still current."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = _listed_tags(header)
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    current = etag_for(instance)
    return "*" in tags or any(tag.removeprefix("W/") == current for tag in tags)
