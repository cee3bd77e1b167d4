"""Impersonation, delegate access and change-key conflicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from exchangelib import Account, Contact, Message
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorChangeKeyRequired,
    ErrorImpersonateUserDenied,
    ErrorIrresolvableConflict,
    ErrorStaleObject,
)
from exchangelib.properties import ItemId
from exchangelib.services import SendItem, UpdateItem

from ews_emulator.testing import EmulatorProcess

from .conftest import IMPERSONATOR, make_account


def test_impersonator_acts_as_the_mailbox(
    impersonating: Callable[[str], Account],
    new_mailbox: Callable[[], str],
    account_factory: Callable[..., Account],
) -> None:
    email = new_mailbox()
    service = impersonating(email)
    Contact(
        account=service,
        folder=service.contacts,
        given_name="Imp",
        surname="Ersonated",
        display_name="Imp Ersonated",
    ).save()
    owner = account_factory(email)
    assert [c.display_name for c in owner.contacts.all()] == ["Imp Ersonated"]
    assert service.contacts.all().count() == 1


def test_others_may_not_impersonate(
    emulator: EmulatorProcess, new_mailbox: Callable[[], str]
) -> None:
    victim, intruder = new_mailbox(), new_mailbox()
    account = make_account(emulator.ews_url, victim, login=intruder, access_type="impersonation")
    with pytest.raises(ErrorImpersonateUserDenied):
        account.inbox.all().count()


def test_delegate_access_to_another_mailbox_is_denied(
    emulator: EmulatorProcess, new_mailbox: Callable[[], str]
) -> None:
    owner, other = new_mailbox(), new_mailbox()
    account = make_account(emulator.ews_url, owner, login=other)
    with pytest.raises(ErrorAccessDenied):
        account.inbox.all().count()


def test_impersonator_has_full_access_as_delegate(
    emulator: EmulatorProcess, new_mailbox: Callable[[], str]
) -> None:
    owner = new_mailbox()
    account = make_account(emulator.ews_url, owner, login=IMPERSONATOR[0], password=IMPERSONATOR[1])
    Message(account=account, folder=account.drafts, subject="via full access").save()
    assert [m.subject for m in make_account(emulator.ews_url, owner).drafts.all()] == [
        "via full access"
    ]


def test_stale_change_key_conflicts(account: Account) -> None:
    contact = Contact(
        account=account, folder=account.contacts, given_name="Stale", display_name="Stale"
    )
    contact.save()
    stale = account.contacts.get(id=contact.id)
    contact.job_title = "first writer"
    contact.save(update_fields=["job_title"])
    stale.job_title = "second writer"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["job_title"])
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["job_title"], conflict_resolution="NeverOverwrite")
    assert account.contacts.get(id=contact.id).job_title == "first writer"
    stale.save(update_fields=["job_title"], conflict_resolution="AlwaysOverwrite")
    assert account.contacts.get(id=contact.id).job_title == "second writer"


def test_every_change_moves_the_change_key_and_time(account: Account) -> None:
    contact = Contact(
        account=account, folder=account.contacts, given_name="Keys", display_name="Keys"
    )
    contact.save()
    first = account.contacts.get(id=contact.id)
    import time

    time.sleep(1.1)
    first.nickname = "K"
    first.save(update_fields=["nickname"])
    second = account.contacts.get(id=contact.id)
    assert second.changekey != contact.changekey
    assert second.last_modified_time > first.last_modified_time


def test_change_keys_on_update_send_and_delete(account: Account) -> None:
    """UpdateItem under AutoResolve needs a ChangeKey (ErrorChangeKeyRequired); SendItem
    needs one (ErrorStaleObject) and refuses a stale one (ErrorIrresolvableConflict);
    DeleteItem takes a stale one (README, "Change keys")."""
    draft = Message(account=account, folder=account.drafts, subject="Keys", body="v1")
    draft.to_recipients = [account.primary_smtp_address]
    draft.save()
    stale = ItemId(id=draft.id, changekey=draft.changekey)
    draft.body = "v2"
    draft.save(update_fields=["body"])
    without = ItemId(id=draft.id)
    keyless = Message(account=account, id=draft.id, subject="Keys (edited)")
    with pytest.raises(ErrorChangeKeyRequired):
        list(
            UpdateItem(account=account).call(
                items=[(keyless, ["subject"])],
                conflict_resolution="AutoResolve",
                message_disposition="SaveOnly",
                send_meeting_invitations_or_cancellations="SendToNone",
                suppress_read_receipts=False,
            )
        )
    with pytest.raises(ErrorStaleObject):
        list(SendItem(account=account).call(items=[without], saved_item_folder=None))
    with pytest.raises(ErrorIrresolvableConflict):
        list(SendItem(account=account).call(items=[stale], saved_item_folder=None))
    assert account.drafts.filter(subject="Keys").count() == 1
    # a stale change key deletes all the same
    assert account.bulk_delete([(stale.id, stale.changekey)]) == [True]
    assert account.drafts.filter(subject="Keys").count() == 0
