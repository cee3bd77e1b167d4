"""Relevance by tracking option, and each correlation path, through the real IMAP server."""

from __future__ import annotations

import pytest

from activities.models import Email
from mailboxes.mail.correlation import normalize_subject
from mailboxes.mail.cycle import process_incoming
from mailboxes.models import Mailbox
from tests.factories import make_person
from tests.mail.messages import build, new_message_id

Option = Mailbox.TrackingOption


def _deliver_and_pull(dovecot, mailbox, raw):
    dovecot.deliver(mailbox.email_address, raw)
    return process_incoming(mailbox)


def _incoming(mailbox):
    return Email.objects.filter(mailbox=mailbox, direction=Email.Direction.INCOMING)


# --- tracking options -------------------------------------------------------------------------
@pytest.mark.django_db
def test_option_all_tracks_mail_from_strangers(imap_profile, make_mailbox, dovecot):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.ALL)

    _deliver_and_pull(dovecot, mailbox, build(sender="nobody@else.test", to=mailbox.email_address))

    assert _incoming(mailbox).count() == 1


@pytest.mark.django_db
def test_option_responses_skips_new_mail_and_tracks_replies(
    imap_profile, make_mailbox, make_crm_email, dovecot
):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    crm = make_crm_email(mailbox, to="client@outside.test", message_id=new_message_id())

    _deliver_and_pull(dovecot, mailbox, build(sender="client@outside.test", subject="New thing"))
    result = _deliver_and_pull(
        dovecot,
        mailbox,
        build(sender="client@outside.test", subject="RE: Quote", in_reply_to=crm.message_id),
    )

    assert result.filed == 1
    assert list(_incoming(mailbox).values_list("subject", flat=True)) == ["RE: Quote"]


@pytest.mark.django_db
def test_option_from_crm_records_tracks_contacts_and_skips_strangers(
    imap_profile, make_mailbox, make_contact, dovecot
):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.FROM_CRM_RECORDS)
    make_contact("known@client.test")

    _deliver_and_pull(dovecot, mailbox, build(sender="known@client.test", subject="from contact"))
    _deliver_and_pull(dovecot, mailbox, build(sender="stranger@x.test", subject="from stranger"))

    assert list(_incoming(mailbox).values_list("subject", flat=True)) == ["from contact"]


@pytest.mark.django_db
def test_option_from_crm_records_tracks_accounts_and_users(
    imap_profile, make_mailbox, make_account, dovecot
):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.FROM_CRM_RECORDS)
    make_account("info@acme.test")
    colleague = make_person(email="colleague@crm.test")

    _deliver_and_pull(dovecot, mailbox, build(sender="info@acme.test", subject="account"))
    _deliver_and_pull(dovecot, mailbox, build(sender=colleague.email, subject="user"))

    assert set(_incoming(mailbox).values_list("subject", flat=True)) == {"account", "user"}


@pytest.mark.django_db
def test_option_from_any_email_enabled_record_also_tracks_queues(
    imap_profile, make_mailbox, dovecot
):
    queue_box = make_mailbox(imap_profile, queue_name="support")
    strict = make_mailbox(imap_profile, tracking_option=Option.FROM_CRM_RECORDS)
    broad = make_mailbox(imap_profile, tracking_option=Option.FROM_ANY_EMAIL_ENABLED_RECORD)

    for box in (strict, broad):
        _deliver_and_pull(dovecot, box, build(sender=queue_box.email_address, to=box.email_address))

    assert _incoming(strict).count() == 0
    assert _incoming(broad).count() == 1


# --- correlation ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_tracking_token_in_subject_correlates_and_copies_regarding(
    imap_profile, make_mailbox, make_crm_email, make_account, dovecot
):
    from django.contrib.contenttypes.models import ContentType

    account = make_account("buyer@acme.test")
    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    crm = make_crm_email(
        mailbox,
        to="buyer@acme.test",
        tracking_token="CRM:0004242",
        regarding_content_type=ContentType.objects.get_for_model(account),
        regarding_object_id=account.pk,
    )

    _deliver_and_pull(
        dovecot, mailbox, build(sender="x@y.test", subject="Re: Your quote CRM:0004242")
    )

    reply = _incoming(mailbox).get()
    assert reply.regarding_object_id == account.pk
    assert reply.tracking_token == "CRM:0004242"
    assert crm.pk != reply.pk


@pytest.mark.django_db
def test_tracking_token_prefix_and_digits_are_configurable(
    imap_profile, make_mailbox, make_crm_email, dovecot, settings
):
    settings.CRMSYNC_TRACKING_TOKEN_PREFIX = "TKT#"
    settings.CRMSYNC_TRACKING_TOKEN_DIGITS = 4
    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    make_crm_email(mailbox, to="a@b.test", tracking_token="TKT#0042")

    _deliver_and_pull(dovecot, mailbox, build(subject="CRM:0000042 no match"))
    _deliver_and_pull(dovecot, mailbox, build(subject="Answer TKT#0042"))

    assert list(_incoming(mailbox).values_list("subject", flat=True)) == ["Answer TKT#0042"]


@pytest.mark.django_db
def test_references_correlate_when_in_reply_to_is_unknown(
    imap_profile, make_mailbox, make_crm_email, dovecot
):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    crm = make_crm_email(mailbox, to="a@b.test", message_id=new_message_id())

    result = _deliver_and_pull(
        dovecot,
        mailbox,
        build(
            subject="later in thread",
            in_reply_to=new_message_id(),
            references=[crm.message_id, new_message_id()],
        ),
    )

    assert result.filed == 1


@pytest.mark.django_db
def test_conversation_id_correlates(make_mailbox, imap_profile, make_crm_email):
    from mailboxes.mail.filing import MailFiler, MessageSource

    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    make_crm_email(mailbox, to="a@b.test", conversation_id="AAQkAGI2conv")
    filer = MailFiler(mailbox)

    unrelated = filer.file(build(subject="other"), MessageSource(conversation_id="other-conv"))
    related = filer.file(build(subject="same"), MessageSource(conversation_id="AAQkAGI2conv"))

    assert (unrelated.outcome, related.outcome) == ("irrelevant", "filed")
    assert related.correlation == "conversation_id"


@pytest.mark.django_db
def test_smart_matching_needs_the_subject_and_a_shared_party(
    imap_profile, make_mailbox, make_crm_email, dovecot
):
    mailbox = make_mailbox(imap_profile, tracking_option=Option.RESPONSES_TO_CRM_EMAIL)
    make_crm_email(mailbox, to="client@outside.test", subject="Contract renewal 2025")

    _deliver_and_pull(
        dovecot, mailbox, build(sender="other@else.test", subject="RE: Contract renewal 2025")
    )
    _deliver_and_pull(
        dovecot, mailbox, build(sender="client@outside.test", subject="AW: Contract renewal 2025")
    )

    assert list(_incoming(mailbox).values_list("from_address", flat=True)) == [
        "client@outside.test"
    ]


@pytest.mark.parametrize(
    ("subject", "normalized"),
    [
        ("RE: FW: Hello", "hello"),
        ("AW: WG: SV: Fwd: Offer", "offer"),
        ("Re[2]: Offer CRM:0001234", "offer"),
        ("  re:re: spaced   out ", "spaced out"),
        ("Regarding: nothing", "regarding: nothing"),
    ],
)
def test_normalize_subject(subject, normalized, settings):
    settings.CRMSYNC_TRACKING_TOKEN_PREFIX = "CRM:"
    settings.CRMSYNC_TRACKING_TOKEN_DIGITS = 7
    assert normalize_subject(subject) == normalized


@pytest.mark.django_db
def test_an_overlong_token_in_a_subject_does_not_stop_filing(imap_profile, make_mailbox):
    from mailboxes.mail.filing import MailFiler

    mailbox = make_mailbox(imap_profile)

    outcome = MailFiler(mailbox).file(build(subject="Order CRM:" + "1" * 100))

    assert outcome.outcome == "filed" and outcome.email is not None
    assert outcome.email.tracking_token == ("CRM:" + "1" * 100)[:64]
    assert outcome.email.processing_error == ""
