"""Incoming email: new mail of the Inbox (and tracking folders) filed as CRM email, over
POP3, IMAP or EWS; a forward mailbox files it for each person it was forwarded by. Runs as
`mailboxes.mail.cycle.run_incoming`; tested by logging in to the POP3 mailbox, selecting
the IMAP inbox, or opening the EWS Inbox."""

from crmsync.choices import DeliveryMethod
from mailboxes.channels.base import Channel

INCOMING = Channel(
    name="incoming",
    label="Incoming email",
    chosen={
        "incoming_delivery_method": (
            DeliveryMethod.SERVER_SIDE_SYNC,
            DeliveryMethod.FORWARD_MAILBOX,
        )
    },
    status_field="incoming_status",
    processed_at_field="incoming_processed_at",
    postpone_field="incoming_postpone_until",
    ews_folders=("inbox",),
)
