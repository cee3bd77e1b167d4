"""Inbox rules act on delivered mail as Exchange's server-side rules do: conditions,
exceptions, actions, priority and StopProcessingRules, with exchangelib making the rules
and sending the mail."""

from __future__ import annotations

from collections.abc import Callable

from exchangelib import Account, Message
from exchangelib.folders import Folder
from exchangelib.properties import (
    Actions,
    Address,
    Conditions,
    CopyToFolder,
    DistinguishedFolderId,
    Exceptions,
    FolderId,
    MoveToFolder,
    Rule,
)
from exchangelib.properties import Mailbox as EwsMailbox

from ews_emulator.control import ControlClient
from tests.waiting import eventually, settled


def _send(sender: Account, to: Account, subject: str, body: str = "Hello") -> None:
    Message(
        account=sender, subject=subject, body=body, to_recipients=[to.primary_smtp_address]
    ).send()


def _arrived(folder: Folder, subject: str) -> Message:
    found = eventually(lambda: list(folder.filter(subject=subject)), f"'{subject}' in {folder}")
    return found[0]


def _rule(account: Account, name: str, priority: int = 1, **parts: object) -> Rule:
    rule = Rule(account=account, display_name=name, priority=priority, is_enabled=True, **parts)
    rule.save()
    return rule


def test_a_rule_moves_matching_mail_to_a_folder_and_leaves_the_rest(
    account_factory: Callable[[], Account],
) -> None:
    alice, bob = account_factory(), account_factory()
    invoices = Folder(parent=alice.inbox, name="Invoices", folder_class="IPF.Note")
    invoices.save()
    _rule(
        alice,
        "Invoices",
        conditions=Conditions(contains_subject_strings=["invoice"]),
        exceptions=Exceptions(contains_body_strings=["keep in inbox"]),
        actions=Actions(move_to_folder=MoveToFolder(folder_id=FolderId(id=invoices.id))),
    )
    _send(bob, alice, "Your INVOICE 42")
    _send(bob, alice, "Invoice 43", body="Please keep in Inbox")
    _send(bob, alice, "Lunch?")

    moved = _arrived(invoices, "Your INVOICE 42")
    assert not moved.is_read
    _arrived(alice.inbox, "Invoice 43")  # the exception holds
    _arrived(alice.inbox, "Lunch?")
    assert not list(alice.inbox.filter(subject="Your INVOICE 42"))


def test_mark_as_read_categories_importance_by_sender_and_priority_with_stop(
    account_factory: Callable[[], Account],
) -> None:
    alice, bob, carol = account_factory(), account_factory(), account_factory()
    bob_address = Address(email_address=bob.primary_smtp_address)
    _rule(
        alice,
        "From Bob",
        priority=1,
        conditions=Conditions(from_addresses=[bob_address]),
        actions=Actions(
            mark_as_read=True,
            assign_categories=["Bob"],
            mark_importance="High",
            stop_processing_rules=True,
        ),
    )
    _rule(  # priority 2: never reached for Bob's mail
        alice,
        "Everyone",
        priority=2,
        conditions=Conditions(sent_to_me=True),
        actions=Actions(assign_categories=["Everyone"]),
    )
    _send(bob, alice, "From Bob")
    _send(carol, alice, "From Carol")

    from_bob = _arrived(alice.inbox, "From Bob")
    assert from_bob.is_read and from_bob.categories == ["Bob"]
    assert from_bob.importance == "High"
    from_carol = _arrived(alice.inbox, "From Carol")
    assert not from_carol.is_read and from_carol.categories == ["Everyone"]


def test_delete_permanent_delete_copy_and_a_disabled_rule(
    account_factory: Callable[[], Account], control: ControlClient
) -> None:
    alice, bob = account_factory(), account_factory()
    archive = Folder(parent=alice.inbox, name="Copies", folder_class="IPF.Note")
    archive.save()
    _rule(
        alice,
        "Spam",
        conditions=Conditions(contains_subject_strings=["spam"]),
        actions=Actions(delete=True),
    )
    _rule(
        alice,
        "Junk",
        conditions=Conditions(contains_subject_strings=["junk"]),
        actions=Actions(permanent_delete=True),
    )
    _rule(
        alice,
        "Copy",
        conditions=Conditions(contains_subject_strings=["copy"]),
        actions=Actions(copy_to_folder=CopyToFolder(folder_id=FolderId(id=archive.id))),
    )
    disabled = Rule(
        account=alice,
        display_name="Off",
        priority=4,
        is_enabled=False,
        conditions=Conditions(contains_subject_strings=["Off"]),
        actions=Actions(delete=True),
    )
    disabled.save()
    for subject in ("Cheap spam", "Old junk", "Copy me", "Off topic"):
        _send(bob, alice, subject)
    settled(control)

    _arrived(alice.trash, "Cheap spam")
    assert not list(alice.inbox.filter(subject="Cheap spam"))
    assert not list(alice.inbox.filter(subject="Old junk"))
    assert not list(alice.trash.filter(subject="Old junk"))
    _arrived(alice.inbox, "Copy me")
    _arrived(archive, "Copy me")
    _arrived(alice.inbox, "Off topic")


def test_forward_and_redirect_reach_other_mailboxes_without_looping(
    account_factory: Callable[[], Account], control: ControlClient
) -> None:
    alice, bob, carol = account_factory(), account_factory(), account_factory()
    _rule(
        alice,
        "To Bob",
        actions=Actions(
            forward_to_recipients=[Address(email_address=bob.primary_smtp_address)],
            redirect_to_recipients=[Address(email_address=carol.primary_smtp_address)],
        ),
    )
    _rule(  # Bob forwards everything back to Alice: no loop
        bob,
        "Back",
        actions=Actions(forward_to_recipients=[Address(email_address=alice.primary_smtp_address)]),
    )
    _send(carol, alice, "Report")
    forwarded = _arrived(bob.inbox, "FW: Report")
    assert forwarded.sender.email_address == alice.primary_smtp_address
    redirected = _arrived(carol.inbox, "Report")  # as sent, from Carol herself
    assert redirected.sender.email_address == carol.primary_smtp_address
    settled(control)
    assert len(list(alice.inbox.filter(subject__contains="Report"))) == 1
    assert len(list(bob.inbox.filter(subject__contains="Report"))) == 1


def test_a_message_delivered_by_smtp_meets_the_rules_too(
    account: Account, control: ControlClient
) -> None:
    _rule(
        account,
        "Newsletters",
        conditions=Conditions(contains_sender_strings=["news@"]),
        actions=Actions(
            move_to_folder=MoveToFolder(
                distinguished_folder_id=DistinguishedFolderId(
                    id="junkemail", mailbox=EwsMailbox(email_address=account.primary_smtp_address)
                )
            )
        ),
    )
    to = account.primary_smtp_address
    mime = (
        f"From: Daily <news@paper.example>\r\nTo: {to}\r\nSubject: Today\r\n"
        "Message-ID: <n1@paper.example>\r\n\r\nHeadlines\r\n"
    )
    answered = control.deliver(account.primary_smtp_address, mime)
    assert answered["folder"] == "junkemail"
    assert [m.subject for m in account.junk.all()] == ["Today"]
    assert not list(account.inbox.all())
