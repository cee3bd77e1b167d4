"""Building the MIME of an outgoing CRM email (for SMTP; EWS gets the same bytes)."""

from __future__ import annotations

import email.utils
import mimetypes
from email import policy
from email.message import EmailMessage

from django.utils import timezone

from activities.models import ActivityParty, Email
from mailboxes.connectors.mail_base import ComposedMessage, SendStamp
from mailboxes.models import Mailbox

Role = ActivityParty.Role


# What a sender sends: the MIME, its envelope and the CRM email's stamp.
OutgoingMessage = ComposedMessage


def subject_with_token(subject: str, token: str) -> str:
    if not token or token.lower() in subject.lower():
        return subject
    return f"{subject} {token}".strip()


def sender_name(mailbox: Mailbox) -> str:
    if mailbox.user is not None:
        return mailbox.user.get_full_name() or ""
    if mailbox.queue is not None:
        return mailbox.queue.name
    return mailbox.name


def party_address(party: ActivityParty) -> str:
    if party.address:
        return party.address
    if party.user is not None:
        return party.user.email
    if party.contact is not None:
        return (
            party.contact.email_address1
            or party.contact.email_address2
            or party.contact.email_address3
        )
    if party.account is not None:
        return party.account.email_address
    if party.queue is not None:
        return party.queue.email_address
    return ""


def compose(email_row: Email, mailbox: Mailbox) -> OutgoingMessage:
    parties = list(email_row.parties.select_related("user", "contact", "account", "queue"))
    by_role: dict[str, list[str]] = {Role.TO: [], Role.CC: [], Role.BCC: []}
    formatted: dict[str, list[str]] = {Role.TO: [], Role.CC: []}
    for party in parties:
        if party.role not in by_role:
            continue
        address = party_address(party)
        if not address:
            continue
        by_role[party.role].append(address)
        if party.role in formatted:
            formatted[party.role].append(
                email.utils.formataddr((party.display_name, address))
                if party.display_name
                else address
            )

    message = EmailMessage(policy=policy.SMTP)
    sender = mailbox.email_address
    name = sender_name(mailbox)
    message["From"] = email.utils.formataddr((name, sender)) if name else sender
    if formatted[Role.TO]:
        message["To"] = ", ".join(formatted[Role.TO])
    if formatted[Role.CC]:
        message["Cc"] = ", ".join(formatted[Role.CC])
    subject = subject_with_token(email_row.subject, email_row.tracking_token)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(timezone.now())
    message["Message-ID"] = email_row.message_id
    if email_row.in_reply_to:
        message["In-Reply-To"] = email_row.in_reply_to
    if email_row.references:
        message["References"] = email_row.references
    message["MIME-Version"] = "1.0"

    text = email_row.body_text
    html = email_row.body_html
    if html and text:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    elif html:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text or "")

    for attachment in email_row.attachments.all():
        if not attachment.file:
            continue
        with attachment.file.open("rb") as handle:
            data = handle.read()
        ctype = (
            attachment.content_type
            or mimetypes.guess_type(attachment.filename)[0]
            or "application/octet-stream"
        )
        maintype, _, subtype = ctype.partition("/")
        message.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
            cid=f"<{attachment.content_id}>" if attachment.content_id else None,
        )

    recipients = list(dict.fromkeys(a for addresses in by_role.values() for a in addresses))
    return OutgoingMessage(
        sender=sender,
        recipients=recipients,
        raw=message.as_bytes(),
        subject=subject,
        stamp=SendStamp(email_row.pk, email_row.message_id),
    )
