"""An email that may have been sent is shown on its mailbox's page, in words, with "send
again" and "mark as sent" for the owner only; and in the admin, with the same actions."""

from django.urls import reverse

from activities.models import Email
from mailboxes.mail.outgoing import UNCERTAIN_REPLY_LOST
from mailboxes.models import Mailbox
from tests.factories import make_outgoing_email
from tests.web.conftest import Team, logged_in


def _uncertain(mailbox: Mailbox, subject: str = "Quote") -> Email:
    return make_outgoing_email(
        mailbox,
        to="buyer@partner.test",
        status=Email.Status.UNCERTAIN,
        subject=subject,
        processing_error=UNCERTAIN_REPLY_LOST,
        send_attempts=1,
    )


def test_the_owner_sees_it_and_sends_it_again(team: Team) -> None:
    email = _uncertain(team.alice_mailbox)
    client = logged_in(team.alice)
    page = reverse("mailboxes:mailbox", args=[team.alice_mailbox.pk])
    decide = reverse("mailboxes:decide-uncertain-email", args=[team.alice_mailbox.pk, email.pk])

    html = client.get(page).content.decode()
    answer = client.post(decide, {"decision": "send_again"})

    assert "Email that may have been sent" in html and "May have been sent" in html
    assert "buyer@partner.test" in html and "Send again" in html
    assert answer.status_code == 302
    email.refresh_from_db()
    assert email.status == Email.Status.PENDING_SEND and email.next_attempt_at is None


def test_the_owner_marks_it_sent(team: Team) -> None:
    email = _uncertain(team.alice_mailbox)
    client = logged_in(team.alice)
    decide = reverse("mailboxes:decide-uncertain-email", args=[team.alice_mailbox.pk, email.pk])

    client.post(decide, {"decision": "mark_sent"})

    email.refresh_from_db()
    assert email.status == Email.Status.SENT and email.sent_at is not None


def test_someone_else_cannot_decide(team: Team) -> None:
    email = _uncertain(team.alice_mailbox)
    decide = reverse("mailboxes:decide-uncertain-email", args=[team.alice_mailbox.pk, email.pk])
    # Bob's own mailbox in the address does not open Alice's email either.
    through_bob = reverse("mailboxes:decide-uncertain-email", args=[team.bob_mailbox.pk, email.pk])

    answers = [
        logged_in(team.bob).post(url, {"decision": "send_again"}) for url in (decide, through_bob)
    ]

    assert [a.status_code for a in answers] == [404, 404]
    email.refresh_from_db()
    assert email.status == Email.Status.UNCERTAIN


def test_the_admin_lists_it_in_words_and_sends_it_again(team: Team, staff_client) -> None:
    email = _uncertain(team.alice_mailbox)
    sent = _uncertain(team.bob_mailbox, subject="Other")
    changelist = reverse("admin:activities_email_changelist")

    listing = staff_client.get(changelist, {"status__exact": "uncertain"}).content.decode()
    staff_client.post(changelist, {"action": "send_again", "_selected_action": [email.pk]})
    staff_client.post(changelist, {"action": "mark_sent", "_selected_action": [sent.pk]})

    assert "May have been sent" in listing and "Quote" in listing
    email.refresh_from_db()
    sent.refresh_from_db()
    assert email.status == Email.Status.PENDING_SEND
    assert sent.status == Email.Status.SENT
