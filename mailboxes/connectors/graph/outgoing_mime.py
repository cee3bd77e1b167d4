"""Splitting a composed MIME for Graph: a request carries at most about 4 MB, and a file
above 3 MB goes to a message through an upload session
(https://learn.microsoft.com/graph/outlook-large-attachments). The draft is made from the
MIME without its large attachments, which are then uploaded to it in ranges."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message

# A draft from MIME at most this big (base64 makes it 4/3 larger: under 4 MB on the wire).
MAX_INLINE_MIME = 2_900_000
# Attachments from this size up leave the MIME when it is too big.
LARGE_ATTACHMENT = 256 * 1024
# Upload ranges: a multiple of 320 KiB, as Graph asks, under the 4 MB request limit.
UPLOAD_CHUNK = 320 * 1024 * 9


@dataclass(frozen=True)
class LargeAttachment:
    name: str
    content_type: str
    content: bytes
    content_id: str = ""
    inline: bool = False


def split_large_attachments(raw: bytes) -> tuple[bytes, list[LargeAttachment]]:
    """`raw` unchanged when it is small enough; else the MIME without its large top-level
    attachments, and those attachments."""
    if len(raw) <= MAX_INLINE_MIME:
        return raw, []
    message = message_from_bytes(raw, policy=policy.SMTP)
    if not isinstance(message, EmailMessage) or message.get_content_type() != "multipart/mixed":
        return raw, []
    parts = message.get_payload()
    if not isinstance(parts, list):
        return raw, []
    kept: list[Message[str, str] | str] = []
    large: list[LargeAttachment] = []
    for part in parts:
        if not isinstance(part, Message):
            kept.append(part)
            continue
        content = part.get_payload(decode=True) if part.get_filename() else None
        if isinstance(content, bytes) and len(content) >= LARGE_ATTACHMENT:
            large.append(
                LargeAttachment(
                    name=str(part.get_filename()),
                    content_type=part.get_content_type(),
                    content=content,
                    content_id=str(part.get("Content-ID") or "").strip("<>"),
                    inline=part.get_content_disposition() == "inline",
                )
            )
        else:
            kept.append(part)
    if not large:
        return raw, []
    message.set_payload(kept)
    return message.as_bytes(), large


def ranges(size: int) -> list[tuple[int, int]]:
    """(start, end inclusive) of each upload range."""
    return [(start, min(start + UPLOAD_CHUNK, size) - 1) for start in range(0, size, UPLOAD_CHUNK)]
