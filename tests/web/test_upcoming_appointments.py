"""The mailbox page lists the owner's upcoming appointments, visible ones only."""

from datetime import timedelta

from django.utils import timezone

from tests.factories import make_appointment
from tests.web.conftest import Team, logged_in


def appointments_section(html: str) -> str:
    start = html.index('id="appointments"')
    return html[start : html.index("</section>", start)]


def test_own_upcoming_appointments_are_listed_soonest_first(team: Team) -> None:
    now = timezone.now()
    make_appointment(team.alice, subject="Later", start=now + timedelta(days=2))
    make_appointment(team.alice, subject="Sooner", start=now + timedelta(hours=2))
    make_appointment(team.alice, subject="Running now", start=now - timedelta(minutes=30))

    html = logged_in(team.alice).get(f"/mailboxes/{team.alice_mailbox.pk}/").content.decode()
    section = appointments_section(html)

    assert section.index("Running now") < section.index("Sooner") < section.index("Later")
    assert "The next 3 appointments" in section


def test_past_cancelled_and_other_peoples_appointments_are_left_out(team: Team) -> None:
    now = timezone.now()
    make_appointment(team.alice, subject="Visible one")
    make_appointment(team.alice, subject="Yesterday", start=now - timedelta(days=1))
    make_appointment(team.alice, subject="Called off", is_cancelled=True)
    make_appointment(team.bob, subject="Bob's dentist")
    make_appointment(team.queue, subject="Support rota")

    html = logged_in(team.alice).get(f"/mailboxes/{team.alice_mailbox.pk}/").content.decode()
    section = appointments_section(html)

    assert "Visible one" in section
    for hidden in ("Yesterday", "Called off", "Bob&#x27;s dentist", "Support rota"):
        assert hidden not in section
    assert "Bob" not in section


def test_a_queue_mailbox_lists_the_queues_appointments(team: Team) -> None:
    make_appointment(team.queue, subject="Support rota")
    make_appointment(team.queue_owner, subject="Quinn's own meeting")

    html = logged_in(team.queue_owner).get(f"/mailboxes/{team.queue_mailbox.pk}/").content
    section = appointments_section(html.decode())

    assert "Support rota" in section
    assert "own meeting" not in section


def test_no_appointments_says_so(team: Team) -> None:
    html = logged_in(team.alice).get(f"/mailboxes/{team.alice_mailbox.pk}/").content.decode()

    assert "No upcoming appointments" in appointments_section(html)


def test_at_most_ten_are_listed(team: Team) -> None:
    for n in range(12):
        make_appointment(team.alice, subject=f"Standup {n:02d}")

    html = logged_in(team.alice).get(f"/mailboxes/{team.alice_mailbox.pk}/").content.decode()
    section = appointments_section(html)

    assert section.count("<li>") == 10
    assert "Standup 09" in section
    assert "Standup 10" not in section
