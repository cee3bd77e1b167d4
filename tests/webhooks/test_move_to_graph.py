"""Moving a mailbox from an EWS profile to a Graph profile on the emulator, which serves EWS
and Graph on one store: links translated to immutable Graph ids, stale ones left for the
re-link by CRM id, folder states reset, the admin action."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from mailboxes.models import Alert, ExchangeSyncIdMapping, FolderSyncState, ItemType, Mailbox
from mailboxes.sync.move_to_graph import MoveRefused, move_to_graph
from mailboxes.webhooks.subscriptions import client_for
from tests import factories
from tests.sync.helpers import act_mailbox, exchange_profile, sync

pytestmark = pytest.mark.e2e


@pytest.fixture
def ews_mailbox(m365: Any, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    """A mailbox syncing appointments, contacts and tasks over EWS (the emulator's TLS EWS,
    its certificate trusted through REQUESTS_CA_BUNDLE as an administrator would)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", m365.tenant.ca_file)
    email = m365.tenant.new_mailbox_address()
    mailbox = act_mailbox(exchange_profile(m365.tenant.ews_url), email=email)
    control = m365.tenant.control
    control.seed(email, "calendar", 3)
    control.seed(email, "contacts", 2)
    control.seed(email, "tasks", 2)
    owner = mailbox.user
    start = timezone.now() + timedelta(days=2)
    factories.make_appointment(
        owner_user=owner, subject="From the CRM", start=start, end=start + timedelta(hours=1)
    )
    factories.make_contact(owner_user=owner, first_name="Crm", last_name="Contact")
    sync(mailbox)
    assert ExchangeSyncIdMapping.objects.filter(mailbox=mailbox).count() == 9
    assert FolderSyncState.objects.filter(mailbox=mailbox, protocol="ews").exists()
    return mailbox


def test_the_command_relinks_every_link_by_crm_id_and_resets_the_folder_states(
    ews_mailbox: Mailbox, m365: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    target = m365.profile()
    before = dict(
        ExchangeSyncIdMapping.objects.filter(mailbox=ews_mailbox).values_list(
            "pk", "exchange_item_id"
        )
    )
    out = StringIO()

    call_command("move_mailbox_to_graph", ews_mailbox.email_address, target.name, stdout=out)

    assert "9 of 9 links re-linked" in out.getvalue()
    assert "looking up links: 100%" in capsys.readouterr().err  # the progress bar
    ews_mailbox.refresh_from_db()
    assert ews_mailbox.profile_id == target.pk
    assert ews_mailbox.claimed_by == ""
    assert ews_mailbox.next_due_at is not None and ews_mailbox.next_due_at <= timezone.now()
    assert not FolderSyncState.objects.filter(mailbox=ews_mailbox, protocol="ews").exists()
    client = client_for(ews_mailbox)
    mappings = ExchangeSyncIdMapping.objects.filter(mailbox=ews_mailbox)
    for mapping in mappings:
        assert mapping.exchange_item_id != before[mapping.pk]
        if mapping.object_type == ItemType.APPOINTMENT:
            item = client.get(f"events/{mapping.exchange_item_id}")
        elif mapping.object_type == ItemType.CONTACT:
            item = client.get(f"contacts/{mapping.exchange_item_id}")
        else:
            continue
        # The immutable id Graph itself answers with (Prefer: IdType="ImmutableId").
        assert item["id"] == mapping.exchange_item_id


def test_an_item_moved_since_the_last_sync_is_left_for_the_relink(
    ews_mailbox: Mailbox, m365: Any
) -> None:
    mapping = ExchangeSyncIdMapping.objects.filter(
        mailbox=ews_mailbox, object_type=ItemType.CONTACT
    ).first()
    assert mapping is not None
    stale = mapping.exchange_item_id
    m365.tenant.control.move_item(stale, "deleteditems")  # EWS gives it a new id

    result = move_to_graph(ews_mailbox, m365.profile())

    assert (result.mappings, result.relinked, result.left_for_relink) == (9, 8, 1)
    mapping.refresh_from_db()
    assert mapping.exchange_item_id == stale


def test_a_type_the_application_has_no_role_for_keeps_its_links_for_the_relink(
    ews_mailbox: Mailbox, m365: Any
) -> None:
    m365.tenant.control.register_app(
        "app-tasks-only", secret="s3cret~value.Of-An_App", roles=["Tasks.ReadWrite"]
    )
    target = m365.profile(oauth_client_id="app-tasks-only")
    mappings = ExchangeSyncIdMapping.objects.filter(mailbox=ews_mailbox)
    before = dict(mappings.values_list("pk", "exchange_item_id"))

    result = move_to_graph(ews_mailbox, target)

    assert sorted(result.types_refused) == ["appointment", "contact", "email"]
    assert "Calendars.ReadWrite" in result.types_refused["appointment"]
    assert (result.relinked, result.left_for_relink) == (2, 7)  # the two tasks
    for mapping in mappings:
        kept = mapping.exchange_item_id == before[mapping.pk]
        assert kept is (mapping.object_type != ItemType.TASK)
    assert Mailbox.objects.get(pk=ews_mailbox.pk).profile_id == target.pk


def test_a_busy_or_wrong_move_is_refused_and_changes_nothing(
    ews_mailbox: Mailbox, m365: Any
) -> None:
    from mailboxes.sync import scheduling

    source = ews_mailbox.profile_id
    with pytest.raises(MoveRefused, match="not a Microsoft 365"):
        move_to_graph(ews_mailbox, exchange_profile(m365.tenant.ews_url))
    claim = scheduling.claim_mailbox(ews_mailbox.pk)
    assert claim is not None
    with pytest.raises(CommandError, match="being synchronized"):
        call_command("move_mailbox_to_graph", ews_mailbox.email_address, m365.profile().name)
    scheduling.release_claim(claim)
    assert Mailbox.objects.get(pk=ews_mailbox.pk).profile_id == source
    assert FolderSyncState.objects.filter(mailbox=ews_mailbox, protocol="ews").exists()


def test_the_admin_action_asks_for_the_profile_then_moves(
    ews_mailbox: Mailbox, m365: Any, staff_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailboxes import tasks

    target = m365.profile()
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.move_mailbox_to_graph, "delay", lambda *a: queued.append(a))
    url = "/admin/mailboxes/mailbox/"
    data = {"action": "move_to_graph", "_selected_action": [ews_mailbox.pk]}

    page = staff_client.post(url, data)
    assert page.status_code == 200
    assert target.name in page.content.decode()

    done = staff_client.post(url, {**data, "target_profile": target.pk, "apply": "Move"})
    assert done.status_code == 302
    assert queued == [(ews_mailbox.pk, target.pk)]
    assert tasks.move_mailbox_to_graph(ews_mailbox.pk, target.pk) == "moved"
    alert = Alert.objects.get(mailbox=ews_mailbox, code="moved_to_graph")
    assert "9 of 9 links re-linked" in alert.message


def test_tracking_folders_are_resolved_over_graph_by_id_or_listed_path(
    ews_mailbox: Mailbox, m365: Any
) -> None:
    from django.contrib.contenttypes.models import ContentType

    from mailboxes.connectors.graph.client import GraphClient
    from mailboxes.connectors.settings import graph_settings
    from mailboxes.folder_listing import refresh_folder_listing
    from mailboxes.models import ExchangeFolderListing, MailboxTrackingFolder

    graph = GraphClient(graph_settings(m365.profile(), ews_mailbox))  # no second CRM mailbox
    projects = graph.post("mailFolders/inbox/childFolders", {"displayName": "Projects"})
    assert projects is not None
    acme = graph.post(f"mailFolders/{projects['id']}/childFolders", {"displayName": "Acme"})
    assert acme is not None
    assert refresh_folder_listing(ews_mailbox.pk) == "listed"
    listing = ExchangeFolderListing.objects.get(mailbox=ews_mailbox)
    assert [f["path"] for f in listing.folders] == ["Projects", "Projects / Acme"]
    # An id the EWS side answered that Graph does not know (as from another EWS session):
    # the move finds the folder by the path the EWS listing recorded.
    listing.folders[1]["id"] = "AAMkAEwsOnlyId="
    listing.save()
    user = ews_mailbox.user
    assert user is not None
    owner = ContentType.objects.get_for_model(type(user))

    def track(folder_id: str, name: str) -> MailboxTrackingFolder:
        return MailboxTrackingFolder.objects.create(
            mailbox=ews_mailbox,
            exchange_folder_id=folder_id,
            exchange_folder_name=name,
            regarding_content_type=owner,
            regarding_object_id=user.pk,
        )

    by_id = track(listing.folders[0]["id"], "Projects")
    by_path = track("AAMkAEwsOnlyId=", "Acme")
    gone = track("AAMkAGoneFolder=", "Gone")

    result = move_to_graph(ews_mailbox, m365.profile())

    for folder in (by_id, by_path, gone):
        folder.refresh_from_db()
    assert (by_id.exchange_folder_id, by_path.exchange_folder_id) == (projects["id"], acme["id"])
    assert result.tracking_unresolved == ["Gone"]
    assert "Gone not found over Graph" in result.describe()
    # The listing is Graph's now, and a Microsoft 365 mailbox lists its folders over Graph.
    assert ExchangeFolderListing.objects.get(mailbox=ews_mailbox).folders == [
        {"id": projects["id"], "name": "Projects", "path": "Projects"},
        {"id": acme["id"], "name": "Acme", "path": "Projects / Acme"},
    ]
    graph.post("mailFolders/inbox/childFolders", {"displayName": "Archive"})
    assert refresh_folder_listing(ews_mailbox.pk) == "listed"
    paths = [f["path"] for f in ExchangeFolderListing.objects.get(mailbox=ews_mailbox).folders]
    assert paths == ["Archive", "Projects", "Projects / Acme"]
