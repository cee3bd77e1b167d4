"""`crmsync.inserts.insert_new`, the one bulk-insert path: encrypted fields stay encrypted,
and a row given its parent before the parent was inserted points at it."""

import pytest
from django.db import connection

from activities.models import ActivityParty, Email
from crmsync.inserts import insert_new
from profiles.models import EmailServerProfile
from tests import factories

pytestmark = pytest.mark.django_db


def test_an_encrypted_field_is_stored_encrypted() -> None:
    profile = EmailServerProfile(
        name="Bulk", incoming_server_location="mail.example.com", incoming_password="s3cret-pw"
    )

    insert_new([profile])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT incoming_password FROM profiles_emailserverprofile WHERE id = %s", [profile.pk]
        )
        (stored,) = cursor.fetchone()
    assert "s3cret-pw" not in stored
    assert EmailServerProfile.objects.get(pk=profile.pk).incoming_password == "s3cret-pw"


def test_a_party_given_its_email_before_the_insert_points_at_it() -> None:
    owner = factories.make_user()
    emails = [Email(subject=f"Batch {n}", owner_user=owner) for n in range(3)]
    parties = [ActivityParty(email=e, address=f"p{n}@example.org") for n, e in enumerate(emails)]

    insert_new(emails)
    insert_new(parties)

    assert all(e.pk is not None for e in emails)
    linked = dict(ActivityParty.objects.values_list("address", "email__subject"))
    assert linked == {f"p{n}@example.org": f"Batch {n}" for n in range(3)}


def test_a_party_of_an_email_never_inserted_is_refused() -> None:
    email = Email(subject="never saved", owner_user=factories.make_user())

    with pytest.raises(ValueError, match="unsaved"):
        insert_new([ActivityParty(email=email, address="x@example.org")])

    assert not ActivityParty.objects.exists()
