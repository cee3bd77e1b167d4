"""Outgoing email: CRM email in "pending send" sent over SMTP or EWS. Runs as
`mailboxes.mail.cycle.run_outgoing`; tested by an SMTP login or opening EWS Sent Items."""

from crmsync.choices import OutgoingDeliveryMethod
from mailboxes.channels.base import Channel

OUTGOING = Channel(
    name="outgoing",
    label="Outgoing email",
    chosen={"outgoing_delivery_method": (OutgoingDeliveryMethod.SERVER_SIDE_SYNC,)},
    status_field="outgoing_status",
    processed_at_field="outgoing_processed_at",
    postpone_field="outgoing_postpone_until",
    ews_folders=("sentitems",),
    from_server=False,
)
