"""The mailbox page's live state as JSON (`mailboxes.web.live`): what its script waits for
after "Sync now", "Test connection" and "Refresh folder list", for the mailbox's manager
only, and nothing secret in it (issue 14)."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from mailboxes.models import ExchangeFolderListing, Mailbox
from tests.web.conftest import Team, approved, logged_in


def state_url(mailbox: Mailbox) -> str:
    return f"/mailboxes/{mailbox.pk}/state/"


def test_the_state_says_the_status_in_words_and_what_the_worker_did(team: Team) -> None:
    mailbox = approved(team.alice_mailbox)
    started = timezone.now() - timedelta(minutes=1)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        password="Tr0ub4dor&3",
        last_sync_started_at=started,
        items_processed=3,
        last_error_kind="throttled",
        last_error_code="ErrorServerBusy",
        last_error_text="ErrorServerBusy: try later",
        act_postpone_until=timezone.now() + timedelta(minutes=5),
    )
    ExchangeFolderListing.objects.create(
        mailbox=mailbox, folders=[{"id": "f1", "name": "Customers"}], requested_at=started
    )

    response = logged_in(team.alice).get(state_url(mailbox))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    state = response.json()
    assert state["status"]["key"] == "postponed"
    assert state["status"]["words"].startswith("Server busy, retrying at ")
    assert state["status"]["details"] == "ErrorServerBusy: try later"
    assert state["sync"] == {
        "running": False,
        "last_started_at": started.isoformat(),
        "items_processed": 3,
        "items_failed": 0,
    }
    assert state["folders"]["waiting"] is True
    assert state["test"] == {"status": "not_run", "tested_at": None}
    assert "Tr0ub4dor" not in response.content.decode()


def test_someone_elses_mailbox_state_is_a_404(team: Team) -> None:
    response = logged_in(team.bob).get(state_url(team.alice_mailbox))

    assert response.status_code == 404


def test_the_state_needs_a_login(team: Team) -> None:
    response = Client().get(state_url(team.alice_mailbox))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
