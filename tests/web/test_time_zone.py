"""Each person sees times in their own time zone, chosen under Preferences, on every page."""

from datetime import UTC, datetime, timedelta

from django.urls import reverse
from django.utils import timezone

from tests.factories import make_appointment
from tests.web.conftest import Team, logged_in


def test_a_time_zone_change_moves_the_times_shown(team: Team) -> None:
    start = (timezone.now() + timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    make_appointment(team.alice, subject="Review", start=start, end=start + timedelta(hours=1))
    client = logged_in(team.alice)
    page = reverse("mailboxes:mailbox", args=[team.alice_mailbox.pk])

    # The installation's time zone (UTC in the tests) until the person picks one.
    assert "12:00\N{EN DASH}13:00" in client.get(page).content.decode()

    saved = client.post(reverse("users:preferences"), {"time_zone": "Asia/Kolkata"})
    assert saved.status_code == 302
    team.alice.refresh_from_db()
    assert team.alice.time_zone == "Asia/Kolkata"

    html = client.get(page).content.decode()
    assert "17:30\N{EN DASH}18:30" in html and "12:00\N{EN DASH}13:00" not in html
    # Bob has chosen none: his pages keep the installation's time zone.
    bob = logged_in(team.bob)
    assert "(UTC)" in bob.get(reverse("users:preferences")).content.decode()
    assert "(IST)" in client.get(reverse("users:preferences")).content.decode()


def test_the_admin_pages_use_it_too(team: Team) -> None:
    from tests import factories

    admin = factories.make_superuser(username="root", time_zone="America/New_York")
    appointment = make_appointment(
        team.alice,
        subject="Call",
        start=datetime(2026, 1, 15, 15, 0, tzinfo=UTC),
        end=datetime(2026, 1, 15, 16, 0, tzinfo=UTC),
    )
    client = logged_in(admin)
    html = client.get(
        reverse("admin:activities_appointment_change", args=[appointment.pk])
    ).content.decode()
    assert 'value="10:00:00"' in html  # 15:00 UTC is 10:00 in New York in January


def test_an_unknown_time_zone_is_refused_and_nothing_is_saved(team: Team) -> None:
    response = logged_in(team.alice).post(
        reverse("users:preferences"), {"time_zone": "Mars/Olympus"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    team.alice.refresh_from_db()
    assert team.alice.time_zone == ""


def test_preferences_need_a_sign_in(team: Team) -> None:
    from django.test import Client

    response = Client().get(reverse("users:preferences"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
