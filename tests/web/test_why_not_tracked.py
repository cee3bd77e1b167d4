""" "Why was this not tracked?": the search over processed messages, "track it now", and the
retention of the details, on the self-service and the admin mailbox pages."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import Email
from mailboxes.mail.filing import MailFiler, MessageSource
from mailboxes.mail.reasons import forget_old_reasons
from mailboxes.models import Mailbox, ProcessedMessage
from mailboxes.tasks import track_processed_message
from mailboxes.web.live import live_state
from tests import factories
from tests.mail.messages import build
from tests.web.conftest import RecordedTask, Team, logged_in

Outcome = ProcessedMessage.Outcome


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def pulled(mailbox: Mailbox, raw: bytes, uid: str) -> ProcessedMessage:
    """File a message as a sync does (recorded under an IMAP uid) and return its record."""
    MailFiler(mailbox).file(raw, MessageSource(protocol="imap", folder_id="INBOX", uid=uid))
    return ProcessedMessage.objects.get(mailbox=mailbox, uid=uid)


def page(client: Client, mailbox: Mailbox, query: str) -> Any:
    return client.get(reverse("mailboxes:mailbox", args=[mailbox.pk]), {"why": query})


@pytest.fixture
def track(on_workers: Callable[..., Any]) -> Any:
    """POST "track it now", its worker's task run before the page answers."""

    def post(client: Client, mailbox: Mailbox, record: ProcessedMessage) -> Any:
        url = reverse("mailboxes:track-now", args=[mailbox.pk, record.pk])
        return on_workers(client.post, url, {"why": record.sender}, follow=True)

    return post


def test_a_message_from_a_stranger_is_found_with_its_reason_in_words(team: Team) -> None:
    mailbox = team.alice_mailbox
    raw = build(sender="stranger@outside.test", subject="Quarterly figures")
    record = pulled(mailbox, raw, "1")
    assert record.outcome == Outcome.IRRELEVANT
    assert record.sender == "stranger@outside.test"
    assert record.raw_mime.read() == raw

    for query in ("stranger@outside", "quarterly", record.message_id, record.message_id[1:-1]):
        response = page(logged_in(team.alice), mailbox, query)
        assert response.status_code == 200
        rows = response.context["why_rows"]
        assert [row.record.pk for row in rows] == [record.pk], query
        assert rows[0].decision == "Not tracked"
    html = response.content.decode()
    assert "the sender stranger@outside.test is not a CRM contact, account or user" in html
    assert "Track it now" in html


def test_a_tracked_message_and_a_duplicate_say_so(team: Team) -> None:
    factories.make_contact(email_address1="known@customer.test")
    raw = build(sender="known@customer.test", subject="Order 77", to="alice@example.test")
    first = pulled(team.alice_mailbox, raw, "1")
    second = pulled(team.bob_mailbox, raw, "9")
    assert first.outcome == Outcome.FILED
    assert first.reason == "filed: the tracking option accepts it"
    assert not first.raw_mime
    assert second.outcome == Outcome.LINKED
    assert second.reason.startswith(f"duplicate of email {first.email_id} (same Message-ID)")

    rows = page(logged_in(team.bob), team.bob_mailbox, "order 77").context["why_rows"]
    assert [(row.decision, row.track_url) for row in rows] == [("Tracked (duplicate)", "")]


def test_the_search_sees_only_the_mailbox_of_the_page(team: Team) -> None:
    pulled(team.bob_mailbox, build(sender="x@outside.test", subject="Bob only"), "1")
    alice = logged_in(team.alice)
    assert page(alice, team.alice_mailbox, "Bob only").context["why_rows"] == []
    assert page(alice, team.bob_mailbox, "Bob only").status_code == 404


def test_a_short_query_is_refused_with_a_sentence(team: Team) -> None:
    response = page(logged_in(team.alice), team.alice_mailbox, "ab")
    assert response.context["why_error"] == "Type at least 3 characters."
    assert response.context["why_rows"] == []


def test_track_it_now_files_the_message_as_for_a_known_sender(team: Team, track: Any) -> None:
    mailbox = team.alice_mailbox
    record = pulled(mailbox, build(sender="new@prospect.test", subject="Can we talk?"), "4")
    kept = Path(record.raw_mime.path)
    assert kept.exists()

    response = track(logged_in(team.alice), mailbox, record)

    assert response.status_code == 200
    record.refresh_from_db()
    email = Email.objects.get(processed_messages=record)
    assert record.outcome == Outcome.FILED
    assert (email.subject, email.from_address, email.owner_user_id) == (
        "Can we talk?",
        "new@prospect.test",
        team.alice.pk,
    )
    assert email.mailbox_id == mailbox.pk
    assert record.reason.startswith("tracked on request by alice on ")
    assert "Before: not relevant: the sender new@prospect.test" in record.reason
    assert not record.raw_mime and not kept.exists()
    assert record.track_finished_at is not None and record.track_error == ""
    said = [str(m) for m in response.context["messages"]]
    assert said == ["Tracking started. This page shows the result when it is done."]
    assert "Tracked" in response.context["why_rows"][0].decision
    # Asking twice files nothing more.
    again = track(logged_in(team.alice), mailbox, record)
    assert any("is tracked already" in str(m) for m in again.context["messages"])
    assert Email.objects.filter(subject="Can we talk?").count() == 1


def test_track_it_now_is_left_to_a_worker_and_the_page_follows_it(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a message left out, and no worker yet
    mailbox = team.alice_mailbox
    record = pulled(mailbox, build(sender="big@prospect.test", subject="Large deck"), "8")
    tasks = ModuleType("mailboxes.tasks")
    tasks.track_processed_message = RecordedTask()  # type: ignore[attr-defined]
    monkeypatch.setattr("mailboxes.web.actions.tasks", tasks)
    client = logged_in(team.alice)

    # when Alice asks to track it, twice
    url = reverse("mailboxes:track-now", args=[mailbox.pk, record.pk])
    response = client.post(url, {"why": "big@prospect"}, follow=True)
    again = client.post(url, {"why": "big@prospect"}, follow=True)

    # then the request filed nothing: one task waits, and the page says so
    assert tasks.track_processed_message.calls == [(record.pk, team.alice.pk)]
    assert not Email.objects.filter(subject="Large deck").exists()
    assert "Being tracked on a worker" in response.content.decode()
    assert [str(m) for m in again.context["messages"]] == [
        "This message is being tracked on a worker already."
    ]
    waiting = live_state(mailbox, track=str(record.pk))["track"]
    assert waiting == {"waiting": True, "finished_at": None, "error": "", "summary": ""}

    # and once the worker has run, the state the page polls tells the result
    assert track_processed_message(record.pk, team.alice.pk) == "tracked"
    done = live_state(mailbox, track=str(record.pk))["track"]
    assert done["waiting"] is False and done["finished_at"] is not None
    assert done["summary"].startswith("tracked on request by alice on ")
    assert Email.objects.filter(subject="Large deck").count() == 1
    assert live_state(mailbox, track=str(record.pk + 1000))["track"] is None


def test_track_it_now_without_the_kept_message_says_why(team: Team, track: Any) -> None:
    mailbox = team.alice_mailbox
    record = pulled(mailbox, build(sender="old@prospect.test", subject="Old one"), "5")
    Path(record.raw_mime.path).unlink()

    response = track(logged_in(team.alice), mailbox, record)

    # the worker found the file gone: the page says so on the message's row
    record.refresh_from_db()
    assert record.track_error.startswith("The message itself is no longer kept")
    assert "Not tracked: The message itself is no longer kept" in response.content.decode()
    assert record.outcome == Outcome.IRRELEVANT
    assert not Email.objects.filter(subject="Old one").exists()


def test_track_it_now_is_refused_on_someone_elses_mailbox(team: Team) -> None:
    record = pulled(team.bob_mailbox, build(sender="a@outside.test", subject="Bob's"), "6")
    url = reverse("mailboxes:track-now", args=[team.bob_mailbox.pk, record.pk])
    assert logged_in(team.alice).post(url).status_code == 404
    other = reverse("mailboxes:track-now", args=[team.alice_mailbox.pk, record.pk])
    logged_in(team.alice).post(other)
    record.refresh_from_db()
    assert record.outcome == Outcome.IRRELEVANT
    assert logged_in(team.bob).get(url).status_code == 405


def test_the_admin_mailbox_page_searches_and_tracks(team: Team, on_workers: Any) -> None:
    mailbox = team.alice_mailbox
    record = pulled(mailbox, build(sender="lead@outside.test", subject="Admin sees it"), "7")
    admin = Client()
    admin.force_login(factories.make_superuser(username="root"))
    change = reverse("admin:mailboxes_mailbox_change", args=[mailbox.pk])

    response = admin.get(change, {"why": "lead@outside"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Why was this not tracked?" in html and "Admin sees it" in html
    track_url = reverse("admin:mailboxes_mailbox_track_now", args=[mailbox.pk, record.pk])
    assert track_url in html

    helpdesk = Client()
    helpdesk.force_login(factories.make_user(username="helpdesk", is_staff=True))
    assert helpdesk.post(track_url).status_code in (302, 403)
    record.refresh_from_db()
    assert record.outcome == Outcome.IRRELEVANT

    done = on_workers(admin.post, track_url, {"why": "lead@outside"})
    assert done.status_code == 302 and done["Location"].endswith("?why=lead%40outside#why")
    record.refresh_from_db()
    assert record.outcome == Outcome.FILED and record.email is not None


def test_details_past_the_retention_are_blanked_and_the_record_stays(
    team: Team, settings: Any
) -> None:
    settings.CRMSYNC_PROCESSED_REASON_DAYS = 90
    mailbox = team.alice_mailbox
    old = pulled(mailbox, build(sender="a@outside.test", subject="Old news"), "10")
    recent = pulled(mailbox, build(sender="b@outside.test", subject="Fresh news"), "11")
    kept = Path(old.raw_mime.path)
    ProcessedMessage.objects.filter(pk=old.pk).update(
        processed_at=timezone.now() - timedelta(days=91)
    )

    assert forget_old_reasons() == 1
    assert forget_old_reasons() == 0

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.sender, old.subject, old.message_id, old.reason, old.raw_mime.name) == (
        "",
        "",
        "",
        "",
        "",
    )
    assert old.outcome == Outcome.IRRELEVANT and not kept.exists()
    assert recent.subject == "Fresh news" and recent.raw_mime
    # The record still keeps the message from being filed again.
    assert MailFiler(mailbox).processed_among("imap", "INBOX", ["10"]) == {"10"}
