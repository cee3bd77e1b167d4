"""Login throttling, per user name and per client address, with django-axes.

Axes counts failed sign-ins (admin login, the self-service login, anything that calls
``authenticate`` with the request) in the database that every web process shares, and refuses
further attempts for the user name or the address that failed too often until a cool-off
period has passed. This module says who the client is and what a locked-out person sees.
"""

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def client_address(request: HttpRequest) -> str | None:
    """The address that failed attempts are counted against.

    Behind ``TRUSTED_PROXY_COUNT`` proxies that each append the address they received from to
    ``X-Forwarded-For``, it is the entry that many places from the right: entries further left
    are whatever the client wrote and are not trusted. Without proxies it is the peer address.
    """
    proxies = settings.CRMSYNC_TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, object] | None = None,
) -> HttpResponse:
    """429 with a page that says why sign-in is refused and until when."""
    cool_off: timedelta = settings.AXES_COOLOFF_TIME
    until = timezone.localtime(timezone.now() + cool_off)
    response = render(
        request,
        "registration/locked_out.html",
        {
            "minutes": int(cool_off.total_seconds() // 60),
            "until": until,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
        status=429,
    )
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
