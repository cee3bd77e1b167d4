"""The demo's Microsoft 365 profile: seeded as scripts/demo runs it (the emulator's store
served once over EWS for the seed and once over https with its Entra ID and Graph, where
the demo application is registered), Carol's mailbox syncs everything over Graph."""

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from activities.models import Appointment, Contact, Email, Task
from crmsync.management.commands.seed_demo import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_TENANT,
    M365_MAILBOX,
)
from ews_emulator.demo import DEMO_ITEMS, DEMO_MAIL, seed
from ews_emulator.testing import run_emulator, self_signed_certificate
from mailboxes.connectors.ews import forget_connections
from mailboxes.models import FolderSyncState, Mailbox
from profiles.models import EmailServerProfile
from tests.sync.helpers import sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

USERS = [(f"{name}@example.com", "secret") for name in ("alice", "bob", "support", "carol")]


def test_the_demo_syncs_carols_mailbox_over_graph(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    cert, key = self_signed_certificate(tmp_path, "graph-emulator")
    settings.CRMSYNC_MICROSOFT_CA_BUNDLE = cert
    store = tmp_path / "ews.sqlite3"
    graph_args = [
        "--tls", cert, key,
        "--tenant", DEMO_TENANT,
        "--app", f"{DEMO_APP_ID}:{DEMO_APP_SECRET}",
    ]  # fmt: skip
    # given the demo's emulator seeded and the demo data, as scripts/demo makes them
    with run_emulator(store, users=USERS) as ews:
        seed(ews.ews_url)
        forget_connections()
        with run_emulator(store, users=USERS, extra_args=graph_args) as graph:
            graph_url = graph.ews_url.split("/EWS/")[0]
            call_command("seed_demo", ews_url=ews.ews_url, graph_url=graph_url)
            # then Carol's mailbox is on the Microsoft 365 profile, approved
            carol = Mailbox.objects.select_related("profile").get(email_address=M365_MAILBOX)
            assert carol.profile is not None
            assert carol.profile.server_type == EmailServerProfile.ServerType.MICROSOFT_365
            assert carol.profile.name == "Demo Microsoft 365" and carol.profile.is_active
            assert carol.approval_status == Mailbox.ApprovalStatus.APPROVED
            # and a cycle brings her appointments, contacts, tasks and tracked mail over Graph
            sync(carol)
    owned = {"owner_user": carol.user}
    wanted = DEMO_ITEMS[M365_MAILBOX]
    assert Appointment.objects.filter(**owned).count() == wanted["calendar"]
    assert Contact.objects.filter(**owned).count() == wanted["contacts"]
    assert Task.objects.filter(**owned).count() == wanted["tasks"]
    protocols = set(
        FolderSyncState.objects.filter(mailbox=carol).values_list("protocol", flat=True)
    )
    assert protocols == {"graph"}
    tracked = set(Email.objects.filter(mailbox=carol).values_list("subject", flat=True))
    # the demo mail to Carol is from a CRM contact; the generated messages from strangers
    # are left out
    assert tracked == {subject for box, _, subject, _ in DEMO_MAIL if box == M365_MAILBOX}
