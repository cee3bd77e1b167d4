"""Counts pluralised, "just now" rather than "0 minutes ago", and a favicon."""

from datetime import timedelta

from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from crmsync.when import ago, within
from crmsync.words import count
from mailboxes.models import Mailbox
from mailboxes.web.status import describe
from tests.web.conftest import Team


def test_moments_and_counts_in_words() -> None:
    now = timezone.now()
    assert ago(now - timedelta(seconds=20), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1\xa0minute ago"
    assert ago(now - timedelta(hours=3, minutes=5), now) == "3\xa0hours ago"
    assert ago(None) == "never"
    assert within(now + timedelta(seconds=10), now) == "any moment now"
    assert within(now + timedelta(minutes=5), now) == "in 5\xa0minutes"
    assert (count(1, "item"), count(2, "item"), count(0, "mailbox", "mailboxes")) == (
        "1 item",
        "2 items",
        "0 mailboxes",
    )


def test_the_status_says_just_now_and_counts_in_the_singular(team: Team) -> None:
    mailbox = team.alice_mailbox
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_sync_started_at=timezone.now(), items_processed=1
    )
    mailbox.refresh_from_db()
    texts = [line.text for line in describe(mailbox)]
    assert "Last synchronization just now: 1 item processed." in texts, texts


def test_the_favicon_is_served(team: Team) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("crmsync/favicon.svg")
    assert finders.find("crmsync/favicon.svg")
    page = Client().get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page
