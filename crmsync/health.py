"""`/healthz`: the database answers, and every stored credential can be decrypted.

Anyone may call it (load balancers do, without a session), so it tells how many credentials
no key decrypts, never which: the model, id and field of each are on the admin's health
dashboard, behind a staff login.
"""

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from crmsync.crypto import undecryptable_values

HEALTH_PATH = "/healthz"
# Checking the credentials decrypts each one (some 25 µs apiece): done at most this often,
# since anyone may call /healthz.
CREDENTIALS_CHECK_SECONDS = 30


def undecryptable_credentials() -> list[dict[str, Any]]:
    """The model, id and field of each credential no configured key decrypts."""
    return [
        {"model": model._meta.label_lower, "id": pk, "field": field}
        for model, pk, field in undecryptable_values()
    ]


def cached_undecryptable_credentials() -> list[dict[str, Any]]:
    """`undecryptable_credentials()`, computed at most every CREDENTIALS_CHECK_SECONDS."""
    found = cache.get_or_set(
        "crmsync:health:undecryptable-credentials",
        undecryptable_credentials,
        CREDENTIALS_CHECK_SECONDS,
    )
    return list(found or [])


def health_response() -> JsonResponse:
    """200 `{"status": "ok"}`; 503 when the database does not answer.

    Credentials that no key in CRMSYNC_ENCRYPTION_KEYS decrypts (a key removed too early, a
    wrong key deployed) make it 200 `"degraded"` with their number (checked every
    CREDENTIALS_CHECK_SECONDS): which ones is for staff, on the health dashboard. Not 503:
    the web app itself works, and is where the passwords are fixed.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return JsonResponse({"status": "error", "database": type(error).__name__}, status=503)
    try:
        undecryptable = cached_undecryptable_credentials()
    except DatabaseError as error:
        # The database answers but the tables are not there yet (migrations still to run).
        return JsonResponse({"status": "ok", "credentials_unchecked": type(error).__name__})
    body: dict[str, Any] = {"status": "ok"}
    if undecryptable:
        body = {"status": "degraded", "undecryptable_credentials": len(undecryptable)}
    return JsonResponse(body)


class HealthCheckMiddleware:
    """Answers /healthz before host validation and the HTTPS redirect.

    Load balancers and container health checks call it by IP over plain HTTP, which the
    production ALLOWED_HOSTS and SECURE_SSL_REDIRECT would otherwise refuse.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            return health_response()
        return self.get_response(request)
