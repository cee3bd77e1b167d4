"""Appointments, contacts and tasks, both ways, on Exchange (EWS) and Microsoft 365 (Graph)
profiles only. Runs as
`mailboxes.sync.act.run_act`; tested by opening the calendar, contacts and tasks folders."""

from crmsync.choices import ActDeliveryMethod
from mailboxes.channels.base import Channel
from profiles.models import EmailServerProfile

EXCHANGE_SERVER_TYPES = (
    EmailServerProfile.ServerType.EXCHANGE,
    EmailServerProfile.ServerType.EXCHANGE_ONLINE,
)
# Appointments, contacts and tasks go through the connector seam: EWS or Graph.
ACT_SERVER_TYPES = (*EXCHANGE_SERVER_TYPES, EmailServerProfile.ServerType.MICROSOFT_365)

ACT = Channel(
    name="act",
    label="Appointments, contacts and tasks",
    chosen={"act_delivery_method": (ActDeliveryMethod.SERVER_SIDE_SYNC,)},
    requires={"profile__server_type": ACT_SERVER_TYPES},
    status_field="act_status",
    processed_at_field="act_processed_at",
    postpone_field="act_postpone_until",
    ews_folders=("calendar", "contacts", "tasks"),
)
