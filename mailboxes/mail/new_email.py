"""The rows a filed message becomes: a new `Email` with its parties and attachments (files
stored right away), or, for what cannot be filed, an `Email` keeping the raw MIME and the
error."""

from __future__ import annotations

from datetime import datetime

from activities.models import ActivityParty, Attachment, ChangeOrigin, Email
from mailboxes.mail.batch import PlannedEmail, StoredFiles
from mailboxes.mail.correlation import Correlation, find_tracking_token
from mailboxes.mail.entries import MessageSource, Target, party_roles, raw_file_name
from mailboxes.mail.mime import Address, ParsedAttachment, ParsedMessage
from mailboxes.mail.parties import Resolution, build_party
from mailboxes.mail.text import clean
from mailboxes.models import Mailbox


def plan_email(
    mailbox: Mailbox,
    filed: tuple[ParsedMessage, bytes, str],
    target: Target,
    source: MessageSource,
    correlation: Correlation | None,
    resolutions: dict[str, Resolution],
    files: StoredFiles,
    *,
    now: datetime,
    max_attachment_bytes: int,
) -> PlannedEmail:
    """The new email of `filed` (the message, its raw MIME, its Message-ID), filed in
    `mailbox` for `target`, with its parties and attachments; files are stored right away."""
    message, raw, message_id = filed
    email = Email(
        owner_user_id=target.user_id,
        owner_queue_id=target.queue_id,
        mailbox=target.mailbox,
        direction=Email.Direction.OUTGOING if source.sent else Email.Direction.INCOMING,
        status=Email.Status.SENT if source.sent else Email.Status.RECEIVED,
        subject=clean(message.subject, 500),
        message_id=message_id,
        in_reply_to=message.in_reply_to,
        references=" ".join(message.references),
        conversation_id=clean(
            source.conversation_id or (correlation.email.conversation_id if correlation else ""),
            512,
        ),
        tracking_token=clean(find_tracking_token(message.subject), 64),
        from_address=message.sender.address if message.sender else "",
        body_text=message.body_text,
        body_html=message.body_html,
        sent_at=message.date,
        received_at=source.received_at or now,
        change_origin=ChangeOrigin.SYNC,
        change_origin_mailbox=mailbox,
    )
    rule = source.tracking_folder
    if rule is not None and rule.regarding_object_id:
        email.regarding_content_type_id = rule.regarding_content_type_id
        email.regarding_object_id = rule.regarding_object_id
    elif correlation is not None and correlation.email.regarding_object_id:
        email.regarding_content_type_id = correlation.email.regarding_content_type_id
        email.regarding_object_id = correlation.email.regarding_object_id
    if message.problems:
        email.processing_error = clean("; ".join(message.problems))
        files.save(email.raw_mime, raw_file_name(), raw)

    planned = PlannedEmail(email)
    planned.parties = _parties(message, target, resolutions)
    planned.attachments = [
        _attachment(item, files, max_attachment_bytes) for item in message.attachments
    ]
    return planned


def _parties(
    message: ParsedMessage, target: Target, resolutions: dict[str, Resolution]
) -> list[ActivityParty]:
    parties = [
        build_party(role, address, resolutions.get(address.address) or Resolution())
        for role, addresses in party_roles(message).items()
        for address in addresses
    ]
    if not any(
        (p.user_id == target.user_id if target.user_id else p.queue_id == target.queue_id)
        for p in parties
        if p.role != ActivityParty.Role.FROM
    ):
        # Reached the owner through Bcc or a list: the owner is still a recipient.
        owner = Resolution(user_id=target.user_id, queue_id=target.queue_id)
        parties.append(build_party(ActivityParty.Role.TO, Address(target.address), owner))
    return parties


def _attachment(item: ParsedAttachment, files: StoredFiles, max_bytes: int) -> Attachment:
    """An attachment row; its file is stored unless it is over the size limit."""
    attachment = Attachment(
        filename=clean(item.filename, 255) or "attachment",
        content_type=clean(item.content_type, 255),
        size=len(item.payload),
        content_id=item.content_id,
        is_inline=item.is_inline,
        error=item.error,
    )
    if len(item.payload) > max_bytes:
        attachment.error = clean(
            f"not stored: {len(item.payload)} bytes is over the limit of "
            f"{max_bytes} bytes (CRMSYNC_MAX_ATTACHMENT_BYTES)"
        )
    else:
        files.save(attachment.file, attachment.filename, item.payload)
    return attachment


def kept_raw_email(
    mailbox: Mailbox,
    raw: bytes,
    parsed: ParsedMessage,
    source: MessageSource,
    error: str,
    files: StoredFiles,
    *,
    now: datetime,
) -> Email:
    """An email keeping a message that cannot be filed: its raw MIME (stored) and the error."""
    email = Email(
        owner_user_id=mailbox.user_id,
        owner_queue_id=mailbox.queue_id,
        mailbox=mailbox,
        direction=Email.Direction.INCOMING,
        status=Email.Status.RECEIVED,
        subject=clean(parsed.subject, 500),
        message_id=parsed.message_id,
        from_address=parsed.sender.address if parsed.sender else "",
        received_at=source.received_at or now,
        processing_error=clean(error),
        change_origin=ChangeOrigin.SYNC,
        change_origin_mailbox=mailbox,
    )
    files.save(email.raw_mime, raw_file_name(), raw)
    return email
