"""EWS and Graph, given the same messages in the mailbox, file the same CRM emails: one test
over both protocols (as tests/graph_act/test_same_records.py is for appointments, contacts
and tasks), each against an emulator holding the same messages (the EWS emulator for EWS,
the Microsoft 365 tenant's for Graph)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from activities.models import Email
from crmsync.choices import DeliveryMethod
from ews_emulator.control import ControlClient
from ews_emulator.testing import EmulatorProcess
from mailboxes.mail.cycle import process_incoming
from mailboxes.models import Mailbox
from tests.conftest import M365
from tests.mail.messages import build
from tests.sync.helpers import emulated_mailbox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

ME = "me@mailbox.test"  # stands for the mailbox's own address, which differs per emulator
DATE = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def deliver(control: ControlClient, address: str) -> None:
    """The mailbox's messages: one with a Cc, a reply to it, one with an attachment, and one
    the mailbox sent (in Sent Items)."""
    first = "<offer-1@partner.test>"
    messages = [
        build(
            sender="Ana Ruiz <ana@partner.test>",
            to=address,
            cc=["bo@partner.test"],
            subject="Offer",
            body="Please find our offer.\nBest, Ana",
            message_id=first,
            date=DATE,
        ),
        build(
            sender="bo@partner.test",
            to=address,
            subject="Re: Offer",
            body="Agreed.",
            message_id="<offer-2@partner.test>",
            in_reply_to=first,
            references=[first],
            date=DATE.replace(hour=10),
        ),
        build(
            sender="ana@partner.test",
            to=address,
            subject="Price list",
            message_id="<prices@partner.test>",
            attachments=[("prices.pdf", "application/pdf", b"%PDF-1.4 " + bytes(range(256)))],
            date=DATE.replace(hour=11),
        ),
    ]
    for mime in messages:
        control.deliver(address, mime)
    sent = build(
        sender=address,
        to="ana@partner.test",
        subject="Our answer",
        message_id="<answer@mailbox.test>",
        date=DATE.replace(hour=12),
    )
    control.deliver(address, sent, folder="sentitems")


def filed(mailbox: Mailbox) -> list[dict[str, Any]]:
    """The mailbox's CRM emails in protocol-neutral terms: its own address as ME, and which
    emails share a conversation rather than the conversation ids."""
    mine = mailbox.email_address.lower()
    emails = list(Email.objects.filter(mailbox=mailbox).order_by("message_id"))
    conversations: dict[str, int] = {}
    found = []
    for email in emails:
        parties = sorted(
            (p.role, ME if p.address.lower() == mine else p.address.lower())
            for p in email.parties.all()
        )
        found.append(
            {
                "subject": email.subject,
                "direction": email.direction,
                "status": email.status,
                "message_id": email.message_id,
                "in_reply_to": email.in_reply_to,
                "from": ME if email.from_address.lower() == mine else email.from_address.lower(),
                "body": email.body_text.strip(),
                "sent_at": email.sent_at,
                "parties": parties,
                "attachments": sorted(
                    (a.filename, a.content_type, a.size, a.error) for a in email.attachments.all()
                ),
                "conversation": conversations.setdefault(email.conversation_id, len(conversations)),
            }
        )
    return found


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return {}


@pytest.mark.parametrize("protocol", ["ews", "graph"])
def test_the_same_messages_make_the_same_emails(
    protocol: str, request: pytest.FixtureRequest, expected: dict[str, Any]
) -> None:
    incoming: dict[str, Any] = {
        "incoming_delivery_method": DeliveryMethod.SERVER_SIDE_SYNC,
        "tracking_option": Mailbox.TrackingOption.ALL,
    }
    if protocol == "ews":
        ews: EmulatorProcess = request.getfixturevalue("ews")
        mailbox, control = emulated_mailbox(ews, **incoming), ews.control
    else:
        m365: M365 = request.getfixturevalue("m365")
        mailbox, control = m365.mailbox(**incoming), m365.tenant.control
    mailbox = Mailbox.objects.select_related("profile", "user", "queue").get(pk=mailbox.pk)
    deliver(control, mailbox.email_address)
    process_incoming(mailbox)
    assert process_incoming(mailbox).fetched == 0  # nothing filed twice
    got = filed(mailbox)
    assert [e["subject"] for e in got] == ["Our answer", "Offer", "Re: Offer", "Price list"]
    offer, reply = got[1], got[2]
    assert offer["conversation"] == reply["conversation"] != got[3]["conversation"]
    assert got[3]["attachments"] == [("prices.pdf", "application/pdf", 265, "")]
    assert got[0]["direction"] == "outgoing" and got[0]["from"] == ME
    # whichever protocol ran first, the other files exactly the same emails
    first = expected.setdefault("emails", got)
    differing = [
        (theirs["subject"], key, theirs[key], ours[key])
        for theirs, ours in zip(first, got, strict=True)
        for key in theirs
        if theirs[key] != ours[key]
    ]
    assert differing == []
