"""Null characters (U+0000) in request data are a 400 naming the field, never a 500.

PostgreSQL refuses NUL in text and JSON values, so a NUL that reaches a query or a write fails
in the database driver, as a 500. Django's form CharField and DRF's CharField refuse it, but
JSON fields, dictionary keys, filters, search boxes and the admin's own parameters do not.
One check at the door covers them all: `NullCharactersMiddleware` looks at the query string,
form bodies and JSON bodies. JSON typed into a form (the admin's JSON fields) reaches the
model as text, so the JSON model fields carry `reject_null_characters` as a validator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
MESSAGE = "Null characters are not allowed."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def null_character_path(value: Any, path: str = "") -> str | None:
    """Where in a JSON-like value the first NUL is (`addresses.home.city`, `to[2]`), or None.

    The empty path is the value itself.
    """
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return key_path
            found = null_character_path(item, key_path)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = null_character_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def reject_null_characters(value: Any) -> None:
    """Validator of JSON model fields: no NUL in any string or key."""
    path = null_character_path(value)
    if path is not None:
        where = f" (at {printable(path)})" if path else ""
        raise ValidationError(f"{MESSAGE[:-1]}{where}.", code="null_characters_not_allowed")


def printable(name: str) -> str:
    return name.replace(NUL, "\\x00")


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def offending_field(request: HttpRequest) -> str | None:
    """The name of the first parameter or field of the request holding a NUL, or None."""
    if NUL in request.path:
        return "path"
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in value for value in values):
            return key
    content_type = request.content_type or ""
    if request.method == "POST" and content_type in FORM_TYPES:
        for key, values in request.POST.lists():
            if NUL in key or any(NUL in value for value in values):
                return key
    elif (
        _is_json(content_type)
        and request.method in ("POST", "PUT", "PATCH")
        # JSON strings hold a NUL only as the escape \u0000 (a raw one is invalid JSON).
        and b"\\u0000" in request.body
    ):
        try:
            data = json.loads(request.body)
        except ValueError:
            return None  # the API answers 400 for invalid JSON itself
        return null_character_path(data)
    return None


class NullCharactersMiddleware:
    """Answers 400 naming the field when the request's data holds a null character.

    JSON (`{"field": ["Null characters are not allowed."]}`, the API's error shape) for the
    API and JSON requests, plain text for pages.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = offending_field(request)
        if field is None:
            return self.get_response(request)
        name = printable(field) or "non_field_errors"
        if request.path.startswith("/api/") or _is_json(request.content_type or ""):
            return JsonResponse({name: [MESSAGE]}, status=400)
        return HttpResponseBadRequest(
            f"Bad request: “{name}” holds a null character. {MESSAGE}\n",
            content_type="text/plain; charset=utf-8",
        )
