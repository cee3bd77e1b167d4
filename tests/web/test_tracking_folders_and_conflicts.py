"""Self-service pages: tracking folders and conflict decisions, through Django's test client."""

from django.contrib.contenttypes.models import ContentType

from activities.models import Appointment
from mailboxes.itemtypes.appointments import AppointmentType
from mailboxes.models import ExchangeSyncIdMapping, ItemType, Mailbox, MailboxTrackingFolder
from tests.factories import make_account, make_appointment, make_contact
from tests.web.conftest import Team, logged_in, url

# --- Tracking folders -------------------------------------------------------------------


def test_add_and_remove_a_tracking_folder(team: Team) -> None:
    mailbox = team.alice_mailbox
    account = make_account(team.alice, name="ACME")
    client = logged_in(team.alice)

    added = client.post(
        url(mailbox, "folders/"),
        {
            "exchange_folder_name": "ACME deals",
            "exchange_folder_id": "AAMkAD-acme",
            "regarding": f"account:{account.pk}",
        },
    )
    folder = MailboxTrackingFolder.objects.get(mailbox=mailbox)
    page = client.get(url(mailbox)).content.decode()
    removed = client.post(url(mailbox, f"folders/{folder.pk}/remove/"))

    assert added.status_code == 302
    assert (folder.exchange_folder_name, folder.regarding) == ("ACME deals", account)
    assert "ACME deals" in page
    assert removed.status_code == 302
    assert not MailboxTrackingFolder.objects.exists()


def test_tracking_folder_regarding_an_invisible_record_is_refused(team: Team) -> None:
    bobs_contact = make_contact(team.bob)

    response = logged_in(team.alice).post(
        url(team.alice_mailbox, "folders/"),
        {
            "exchange_folder_name": "Peek",
            "exchange_folder_id": "AAMkAD-peek",
            "regarding": f"contact:{bobs_contact.pk}",
        },
    )

    assert response.status_code == 400
    assert not MailboxTrackingFolder.objects.exists()


def test_at_most_25_tracking_folders(team: Team) -> None:
    mailbox = team.alice_mailbox
    MailboxTrackingFolder.objects.bulk_create(
        MailboxTrackingFolder(mailbox=mailbox, exchange_folder_id=f"f{i}", exchange_folder_name="x")
        for i in range(25)
    )

    response = logged_in(team.alice).post(
        url(mailbox, "folders/"), {"exchange_folder_name": "one more", "exchange_folder_id": "f26"}
    )

    assert response.status_code == 400
    assert b"at most 25 tracking folders" in response.content
    assert MailboxTrackingFolder.objects.count() == 25


def test_another_mailboxs_folder_cannot_be_removed(team: Team) -> None:
    folder = MailboxTrackingFolder.objects.create(
        mailbox=team.bob_mailbox, exchange_folder_id="b", exchange_folder_name="Bob's"
    )

    response = logged_in(team.alice).post(url(team.alice_mailbox, f"folders/{folder.pk}/remove/"))

    assert response.status_code == 404
    assert MailboxTrackingFolder.objects.filter(pk=folder.pk).exists()


# --- Conflicts -----------------------------------------------------------------------------


def _conflict(mailbox: Mailbox, appointment: Appointment) -> ExchangeSyncIdMapping:
    """Both sides changed the location: the CRM says Room 1, Exchange says Room 2."""
    Appointment.objects.filter(pk=appointment.pk).update(location="Room 1")
    appointment.refresh_from_db()
    crm = AppointmentType().record_canonical(appointment)
    return ExchangeSyncIdMapping.objects.create(
        mailbox=mailbox,
        object_type=ItemType.APPOINTMENT,
        crm_content_type=ContentType.objects.get_for_model(Appointment),
        crm_object_id=appointment.pk,
        exchange_item_id=f"AAMk-{appointment.pk}",
        item_subject="Board meeting",
        user_decision=ExchangeSyncIdMapping.UserDecision.PENDING,
        crm_snapshot=crm,
        exchange_snapshot={**crm, "location": "Room 2"},
    )


def test_pending_conflict_is_shown_and_the_decision_applied(team: Team) -> None:
    mailbox = team.alice_mailbox
    appointment = make_appointment(team.alice)
    mapping = _conflict(mailbox, appointment)
    client = logged_in(team.alice)

    page = client.get(url(mailbox)).content.decode()
    response = client.post(
        url(mailbox, f"conflicts/{mapping.pk}/"), {"decision": "keep_exchange"}, follow=True
    )

    assert "Board meeting" in page and "Room 1" in page and "Room 2" in page
    assert [str(m) for m in response.context["messages"]] == [
        "The Exchange version is kept; the next synchronization writes it to both sides."
    ]
    mapping.refresh_from_db()
    assert mapping.user_decision == "keep_exchange"
    # applied at once, as the admin does: the CRM record holds the Exchange version
    appointment.refresh_from_db()
    assert appointment.location == "Room 2"
    assert "Room 1" not in client.get(url(mailbox)).content.decode()


def test_the_table_lists_only_what_really_differs(team: Team) -> None:
    """No time zone and no organizer in the CRM are what Exchange writes as UTC and as the
    mailbox's owner: not differences to decide on (as the demo's conflict showed them)."""
    mailbox = team.alice_mailbox
    mapping = _conflict(mailbox, make_appointment(team.alice))
    crm = {**(mapping.crm_snapshot or {}), "time_zone": "", "organizer": None}
    owner = {"address": mailbox.email_address, "name": "Alice"}
    exchange = {**(mapping.exchange_snapshot or {}), "time_zone": "UTC", "organizer": owner}
    ExchangeSyncIdMapping.objects.filter(pk=mapping.pk).update(
        crm_snapshot=crm, exchange_snapshot=exchange
    )

    response = logged_in(team.alice).get(url(mailbox))

    [(_, differences)] = response.context["conflicts"]
    assert differences == [("location", "Room 1", "Room 2")]


def test_a_conflict_decided_already_is_not_decided_again(team: Team) -> None:
    mapping = _conflict(team.alice_mailbox, make_appointment(team.alice))
    client = logged_in(team.alice)
    client.post(url(team.alice_mailbox, f"conflicts/{mapping.pk}/"), {"decision": "keep_crm"})

    response = client.post(
        url(team.alice_mailbox, f"conflicts/{mapping.pk}/"),
        {"decision": "keep_exchange"},
        follow=True,
    )

    assert "This conflict was decided already." in [str(m) for m in response.context["messages"]]
    mapping.refresh_from_db()
    assert mapping.user_decision == "keep_crm"


def test_unknown_decision_changes_nothing(team: Team) -> None:
    mapping = _conflict(team.alice_mailbox, make_appointment(team.alice))

    logged_in(team.alice).post(
        url(team.alice_mailbox, f"conflicts/{mapping.pk}/"), {"decision": "both"}
    )

    mapping.refresh_from_db()
    assert mapping.user_decision == "pending"


def test_conflict_of_another_mailbox_is_404(team: Team) -> None:
    mapping = _conflict(team.bob_mailbox, make_appointment(team.bob))

    response = logged_in(team.alice).post(
        url(team.alice_mailbox, f"conflicts/{mapping.pk}/"), {"decision": "keep_crm"}
    )

    assert response.status_code == 404
    mapping.refresh_from_db()
    assert mapping.user_decision == "pending"
