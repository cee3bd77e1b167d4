"""Downloads of stored files (attachments, kept raw messages) for the people who may see them.

Nothing under MEDIA_ROOT is served directly: the files come from mail servers and mail
senders, so an `evil.html` or an SVG with a script would otherwise run on our origin. Each
download checks the API's visibility rule (owner, queue owners and members, staff), and is
always a download: `Content-Disposition: attachment`, a content type no browser renders as
active content, `nosniff`, and a sandboxing Content-Security-Policy for good measure.
"""

from __future__ import annotations

import unicodedata
import urllib.parse

from django.contrib.auth.views import redirect_to_login
from django.db.models import Model
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed, Throttled

from activities.api.authentication import LimitedTokenAuthentication
from activities.api.visibility import visible_to
from activities.models import Attachment, Email
from users.models import User

OCTET_STREAM = "application/octet-stream"
# Types a browser shows passively or hands to another program. Anything else (text/html,
# image/svg+xml, XML, JavaScript, unknown types) is sent as application/octet-stream.
PASSIVE_CONTENT_TYPES = frozenset(
    {
        "application/gzip",
        "application/msword",
        "application/pdf",
        "application/rtf",
        "application/vnd.ms-excel",
        "application/vnd.ms-outlook",
        "application/vnd.ms-powerpoint",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/zip",
        "audio/mpeg",
        "audio/wav",
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/tiff",
        "image/webp",
        "message/rfc822",
        "text/calendar",
        "text/csv",
        "text/plain",
        "text/vcard",
        "video/mp4",
    }
)
# Strict: the page of a download may do nothing, whatever a browser decides to show.
DOWNLOAD_CSP = "default-src 'none'; sandbox"
MAX_FILENAME_LENGTH = 200


def safe_content_type(declared: str) -> str:
    """The declared type without its parameters when it is passive, else octet-stream."""
    main = declared.split(";", 1)[0].strip().lower()
    return main if main in PASSIVE_CONTENT_TYPES else OCTET_STREAM


def safe_filename(name: str, default: str = "attachment") -> str:
    """A file name for the download: no folders, no control characters, not empty."""
    name = name.replace("/", "_").replace("\\", "_")
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C")
    name = name.strip().lstrip(".").strip()[:MAX_FILENAME_LENGTH]
    return name or default


def content_disposition(filename: str) -> str:
    """`attachment` with the name as RFC 6266 asks: an ASCII `filename` and `filename*`."""
    ascii_name = (
        unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode().strip()
        or "attachment"
    )
    # A quoted-string holds printable ASCII; `"` and `\` would need escapes some clients
    # ignore, so they are replaced in the fallback (the exact name is in filename*).
    ascii_name = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in ascii_name)
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=utf-8''{urllib.parse.quote(filename, safe='')}"
    return header


def download_response(stored: FieldFile, *, filename: str, content_type: str) -> FileResponse:
    """The stored file as a download, or 404 when its content is not (or no longer) stored."""
    if not stored:
        raise Http404("The content of this file is not stored.")
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("The content of this file is not stored.") from None
    response = FileResponse(handle, content_type=safe_content_type(content_type))
    response["Content-Disposition"] = content_disposition(safe_filename(filename))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["Cache-Control"] = "private, no-store"
    return response


def download_url(record: Model) -> str:
    """Where a record's stored file is downloaded: an attachment, or an email's raw message."""
    if isinstance(record, Attachment):
        return reverse("activities:attachment-download", args=[record.pk])
    if isinstance(record, Email):
        return reverse("activities:raw-message-download", args=[record.pk])
    raise TypeError(f"{type(record).__name__} has no download view")


def _downloader(request: HttpRequest) -> User | None:
    """The signed-in user, or the owner of the API token the request carries (scripts
    follow the API's `download_url` with their token)."""
    if request.user.is_authenticated:
        user: User = request.user
        return user
    try:
        # It reads only the Authorization header, which a Django request has as well.
        found = LimitedTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
    except (AuthenticationFailed, Throttled):  # a wrong token, or too many from this address
        return None
    return found[0] if found else None


def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    user = _downloader(request)
    if user is None:
        return redirect_to_login(request.get_full_path())
    attachments = visible_to(Attachment.objects.all(), user, via=("email", "appointment", "task"))
    attachment = get_object_or_404(attachments, pk=attachment_id)
    return download_response(
        attachment.file, filename=attachment.filename, content_type=attachment.content_type
    )


def raw_message_download(request: HttpRequest, email_id: int) -> HttpResponseBase:
    """The message as received, kept when it could not be parsed."""
    user = _downloader(request)
    if user is None:
        return redirect_to_login(request.get_full_path())
    email = get_object_or_404(visible_to(Email.objects.all(), user), pk=email_id)
    return download_response(
        email.raw_mime, filename=f"message-{email.pk}.eml", content_type="message/rfc822"
    )
