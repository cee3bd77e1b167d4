"""The two servers the invitation rule is shown on, behind one face: an EWS mailbox on the
EWS emulator, or a Microsoft 365 (Graph) mailbox on the tenant's emulator; attendees are
mailboxes of the same emulator, and what reached them is read from their Inboxes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from exchangelib.folders import Folder

from activities.models import ActivityParty, Appointment, ChangeOrigin
from ews_emulator.control import ControlClient
from ews_emulator.graph import ids
from mailboxes.connectors.ews import account_for
from mailboxes.connectors.graph.connector import GraphMailboxConnector
from mailboxes.models import Mailbox
from tests.factories import make_appointment
from tests.sync.helpers import emulated_mailbox, new_address
from tests.waiting import settled

REQUEST, UPDATE, CANCELLATION = "request", "update", "cancellation"
# Exchange gives every calendar item its zones (the control API leaves them out unless told).
UTC_ZONES = '<t:StartTimeZone Id="UTC"/><t:EndTimeZone Id="UTC"/>'


# Meetings fall on days relative to today: Graph's calendar is read over a window of two
# years back and three ahead.
DAY = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def at(hour: int, days: int = 60) -> dt.datetime:
    """`hour` o'clock (UTC) `days` days from today."""
    return DAY + dt.timedelta(days=days, hours=hour)


@dataclass
class Side:
    protocol: str
    control: ControlClient
    request: pytest.FixtureRequest

    def mailbox(self, **fields: Any) -> Mailbox:
        """An approved mailbox syncing appointments, contacts and tasks, past nothing yet."""
        if self.protocol == "ews":
            return emulated_mailbox(self.request.getfixturevalue("ews"), **fields)
        from tests.graph_act.helpers import graph_mailbox

        return graph_mailbox(self.request.getfixturevalue("m365"), **fields)

    def attendee(self) -> str:
        """The address of a new mailbox on the same emulator."""
        address = new_address("attendee")
        self.control.create_mailbox(address, "secret")
        return address

    def inbox(self, address: str) -> list[tuple[str, str]]:
        """(request / update / cancellation, subject) of the meeting messages in the Inbox,
        once the emulator has delivered what was sent (Exchange delivers asynchronously)."""
        settled(self.control)
        found = []
        for item in self.control.items(address, "inbox"):
            if item["kind"] == "MeetingRequest":
                fields = self.control.item(item["id"])["fields"]
                kind = UPDATE if fields.get("MeetingRequestType") == "FullUpdate" else REQUEST
            elif item["kind"] == "MeetingCancellation":
                kind = CANCELLATION
            else:
                continue
            found.append((kind, item["subject"] or ""))
        return sorted(found)

    def calendar(self, mailbox: Mailbox) -> list[str]:
        """Subjects in the mailbox's Exchange calendar."""
        return sorted(
            i["subject"] or "" for i in self.control.items(mailbox.email_address, "calendar")
        )

    def contact_folder(self, mailbox: Mailbox, name: str, *contacts: str) -> str:
        """A contact folder below Contacts made in Outlook, holding contacts of these
        surnames: its id as the mailbox's protocol names it."""
        if self.protocol == "ews":
            account = account_for(mailbox)
            folder = Folder(parent=account.contacts, name=name, folder_class="IPF.Contact")
            folder.save()
            folder_id, ews_id = str(folder.id), str(folder.id)
        else:
            client = GraphMailboxConnector.for_mailbox(mailbox).client
            made = client.post("contactFolders", {"displayName": name})
            assert made is not None
            folder_id = str(made["id"])
            ews_id = ids.ews_id(folder_id)
        for surname in contacts:
            self.control.create_item(
                mailbox.email_address,
                "contact",
                {"GivenName": "Ann", "Surname": surname},
                folder=ews_id,
            )
        return folder_id

    def outlook_meeting(
        self,
        mailbox: Mailbox,
        subject: str,
        start: dt.datetime,
        attendees: tuple[str, ...] = (),
        *,
        sent: bool = False,
    ) -> None:
        """A meeting the mailbox organizes, made in Outlook: with `sent`, sent to its
        attendees (the Inbox copies are left out), else saved without sending."""
        fields: dict[str, Any] = {
            "Subject": subject,
            "Start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "End": (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "xml": UTC_ZONES,
        }
        if attendees:
            fields["RequiredAttendees"] = [{"email": a} for a in attendees]
            fields["MeetingRequestWasSent"] = sent
        self.control.create_item(mailbox.email_address, "calendar", fields)


def make_side(request: pytest.FixtureRequest, protocol: str) -> Side:
    if protocol == "ews":
        control = request.getfixturevalue("ews").control
    else:
        control = request.getfixturevalue("m365").tenant.control
    return Side(protocol, control, request)


def meeting_with(mailbox: Mailbox, attendee: str, subject: str, **fields: Any) -> Appointment:
    meeting = make_appointment(
        owner_user=mailbox.user,
        subject=subject,
        start=fields.pop("start", at(10)),
        end=fields.pop("end", at(11)),
        **fields,
    )
    ActivityParty.objects.create(
        appointment=meeting, role=ActivityParty.Role.REQUIRED_ATTENDEE, address=attendee
    )
    return meeting


def move(meeting: Appointment, hour: int) -> None:
    """A CRM user moves the meeting to `hour` o'clock."""
    meeting.refresh_from_db()
    meeting.start, meeting.end = at(hour), at(hour + 1)
    meeting.change_origin, meeting.change_origin_mailbox = ChangeOrigin.CRM_USER, None
    meeting.save()
