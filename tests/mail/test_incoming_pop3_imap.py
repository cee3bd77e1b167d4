"""Incoming mail from the real Dovecot over POP3 and IMAP: incremental, delete, cut-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.models import Email
from mailboxes.mail.cycle import process_incoming
from mailboxes.models import FolderSyncState, ProcessedMessage
from tests.mail.messages import build


@pytest.mark.django_db
def test_pop3_files_each_message_once_and_second_cycle_fetches_nothing(
    pop3_profile, make_mailbox, dovecot
):
    mailbox = make_mailbox(pop3_profile)
    for n in range(3):
        dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject=f"m{n}"))

    first = process_incoming(mailbox)
    second = process_incoming(mailbox)

    assert (first.fetched, first.filed) == (3, 3)
    assert (second.fetched, second.filed) == (0, 0)
    subjects = set(Email.objects.filter(mailbox=mailbox).values_list("subject", flat=True))
    assert subjects == {"m0", "m1", "m2"}
    assert ProcessedMessage.objects.filter(mailbox=mailbox, protocol="pop3").count() == 3


@pytest.mark.django_db
def test_pop3_new_message_after_first_cycle_is_the_only_one_fetched(
    pop3_profile, make_mailbox, dovecot
):
    mailbox = make_mailbox(pop3_profile)
    dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="old"))
    process_incoming(mailbox)
    dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="new"))

    result = process_incoming(mailbox)

    assert result.fetched == 1
    assert Email.objects.filter(mailbox=mailbox, subject="new").count() == 1
    assert Email.objects.filter(mailbox=mailbox).count() == 2


@pytest.mark.django_db
def test_pop3_process_and_delete_removes_filed_messages_from_the_server(
    pop3_profile, make_mailbox, dovecot
):
    mailbox = make_mailbox(pop3_profile, process_and_delete=True)
    for n in range(2):
        dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject=f"d{n}"))

    result = process_incoming(mailbox)

    assert (result.filed, result.deleted_on_server) == (2, 2)
    maildir = dovecot.maildir(mailbox.email_address)
    assert list((maildir / "new").iterdir()) == [] and list((maildir / "cur").iterdir()) == []
    assert Email.objects.filter(mailbox=mailbox).count() == 2


@pytest.mark.django_db
def test_pop3_without_process_and_delete_leaves_messages_on_the_server(
    pop3_profile, make_mailbox, dovecot
):
    mailbox = make_mailbox(pop3_profile)
    dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address))

    process_incoming(mailbox)

    maildir = dovecot.maildir(mailbox.email_address)
    assert len(list((maildir / "new").iterdir()) + list((maildir / "cur").iterdir())) == 1


@pytest.mark.django_db
def test_imap_remembers_uidvalidity_and_last_uid(imap_profile, make_mailbox, dovecot):
    mailbox = make_mailbox(imap_profile)
    for n in range(3):
        dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject=f"i{n}"))

    first = process_incoming(mailbox)
    second = process_incoming(mailbox)

    assert (first.fetched, first.filed) == (3, 3)
    assert second.fetched == 0
    state = FolderSyncState.objects.get(mailbox=mailbox, protocol="imap", folder_id="INBOX")
    assert state.last_uid == 3 and state.uid_validity
    assert Email.objects.filter(mailbox=mailbox).count() == 3


@pytest.mark.django_db
def test_imap_new_message_is_fetched_in_the_next_cycle(imap_profile, make_mailbox, dovecot):
    mailbox = make_mailbox(imap_profile)
    dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="a"))
    process_incoming(mailbox)
    dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="b"))

    result = process_incoming(mailbox)

    assert (result.fetched, result.filed) == (1, 1)
    assert Email.objects.get(mailbox=mailbox, subject="b").received_at is not None


@pytest.mark.django_db
def test_imap_changed_uidvalidity_reads_the_folder_again_without_duplicates(
    imap_profile, make_mailbox, dovecot
):
    mailbox = make_mailbox(imap_profile)
    dovecot.deliver(mailbox.email_address, build(to=mailbox.email_address, subject="once"))
    process_incoming(mailbox)
    # As if the server had renumbered the folder since: our records carry the old validity.
    FolderSyncState.objects.filter(mailbox=mailbox, protocol="imap").update(uid_validity=1)
    ProcessedMessage.objects.filter(mailbox=mailbox, protocol="imap").update(uid_validity=1)

    result = process_incoming(mailbox)

    assert result.fetched == 1 and result.linked == 1
    assert Email.objects.filter(mailbox=mailbox, subject="once").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("profile_fixture", ["pop3_profile", "imap_profile"])
def test_mail_received_before_the_cutoff_is_not_filed(
    profile_fixture, request, make_mailbox, dovecot
):
    profile = request.getfixturevalue(profile_fixture)
    cutoff = datetime.now(UTC) - timedelta(days=10)
    profile.process_emails_received_after = cutoff
    profile.save()
    mailbox = make_mailbox(profile)
    old = build(to=mailbox.email_address, subject="old", date=cutoff - timedelta(days=30))
    new = build(to=mailbox.email_address, subject="new", date=cutoff + timedelta(days=5))
    dovecot.deliver(mailbox.email_address, old)
    dovecot.deliver(mailbox.email_address, new)
    if profile_fixture == "imap_profile":
        # IMAP judges by arrival (INTERNALDATE): give the old one an old arrival time.
        _age_oldest_message(dovecot, mailbox.email_address, cutoff - timedelta(days=30))

    process_incoming(mailbox)

    assert list(Email.objects.filter(mailbox=mailbox).values_list("subject", flat=True)) == ["new"]


@pytest.mark.django_db
def test_mailbox_cutoff_overrides_the_profile(pop3_profile, make_mailbox, dovecot):
    pop3_profile.process_emails_received_after = datetime.now(UTC) - timedelta(days=365)
    pop3_profile.save()
    mailbox = make_mailbox(
        pop3_profile, process_emails_received_after=datetime.now(UTC) - timedelta(days=1)
    )
    dovecot.deliver(
        mailbox.email_address,
        build(to=mailbox.email_address, date=datetime.now(UTC) - timedelta(days=3)),
    )

    result = process_incoming(mailbox)

    assert (result.too_old, result.filed) == (1, 0)


@pytest.mark.django_db
def test_wrong_password_is_a_permanent_error(pop3_profile, make_mailbox):
    from mailboxes.connectors import PermanentSyncError

    mailbox = make_mailbox(pop3_profile, password="wrong")

    with pytest.raises(PermanentSyncError) as caught:
        process_incoming(mailbox)

    assert caught.value.code == "authentication_failed"


@pytest.mark.django_db
def test_unreachable_server_is_a_transient_error(make_profile, make_mailbox):
    from mailboxes.connectors import TransientSyncError
    from tests.servers.dovecot import free_port

    profile = make_profile(
        "imap_smtp",
        incoming_server_location="127.0.0.1",
        incoming_port=free_port(),
        incoming_use_ssl=False,
    )
    mailbox = make_mailbox(profile)

    with pytest.raises(TransientSyncError):
        process_incoming(mailbox)


def _age_oldest_message(dovecot, address: str, when: datetime) -> None:
    import os

    maildir = dovecot.maildir(address)
    files = sorted((maildir / "new").iterdir())
    os.utime(files[0], (when.timestamp(), when.timestamp()))
