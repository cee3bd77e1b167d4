"""Inbox rules, OOF, user configurations, delegates, MailTips, MarkAsJunk, ArchiveItem,
directory look-ups and ConvertId, with exchangelib as the client."""

from __future__ import annotations

import pytest
from exchangelib import Account, Message
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorDelegateNoUser,
    ErrorInvalidUserSid,
    ErrorItemNotFound,
    ErrorItemSave,
    ErrorNameResolutionNoResults,
    ErrorNotDelegate,
    TransportError,
)
from exchangelib.folders import Messages
from exchangelib.properties import Actions, AlternateId, Conditions, Rule, UserId
from exchangelib.services import GetDelegate
from exchangelib.settings import OofSettings


def test_inbox_rules_round_trip(account: Account) -> None:
    assert account.rules == []
    rule = Rule(
        account=account,
        display_name="Newsletters",
        priority=1,
        is_enabled=True,
        conditions=Conditions(contains_sender_strings=["news"]),
        actions=Actions(delete=True),
    )
    rule.save()
    assert rule.id
    [stored] = account.rules
    assert (stored.id, stored.display_name) == (rule.id, "Newsletters")
    assert stored.conditions.contains_sender_strings == ["news"]
    rule.display_name = "Renamed"
    rule.save()
    assert [r.display_name for r in account.rules] == ["Renamed"]
    rule.delete()
    assert account.rules == []


def test_oof_settings_round_trip(account: Account) -> None:
    assert account.oof_settings.state == OofSettings.DISABLED
    oof = OofSettings(
        state=OofSettings.ENABLED,
        external_audience="Known",
        internal_reply="Away",
        external_reply="Out of office",
    )
    account.oof_settings = oof
    assert account.oof_settings == oof


def test_user_configuration_crud(account: Account) -> None:
    folder = Messages(parent=account.inbox, name="Configured").save()
    with pytest.raises(ErrorItemNotFound):
        folder.get_user_configuration(name="Test.Config")
    folder.create_user_configuration(name="Test.Config", xml_data=b"<a/>", binary_data=b"XY")
    with pytest.raises(ErrorItemSave):
        folder.create_user_configuration(name="Test.Config")
    config = folder.get_user_configuration(name="Test.Config")
    assert (config.xml_data, config.binary_data) == (b"<a/>", b"XY")
    folder.update_user_configuration(name="Test.Config", binary_data=b"ZZ")
    only_xml = folder.get_user_configuration(name="Test.Config", properties="XmlData")
    assert (only_xml.xml_data, only_xml.binary_data) == (b"<a/>", None)
    assert folder.get_user_configuration(name="Test.Config").binary_data == b"ZZ"
    with pytest.raises(ErrorItemNotFound):
        account.inbox.get_user_configuration(name="Test.Config")
    folder.delete_user_configuration(name="Test.Config")
    with pytest.raises(ErrorItemNotFound):
        folder.get_user_configuration(name="Test.Config")


def test_delegates_and_mail_tips(account: Account) -> None:
    assert account.delegates == []
    with pytest.raises(ErrorInvalidUserSid):
        list(
            GetDelegate(account=account).call(user_ids=[UserId(sid="X")], include_permissions=True)
        )
    with pytest.raises(ErrorDelegateNoUser):
        list(
            GetDelegate(account=account).call(
                user_ids=["nobody@example.com"], include_permissions=True
            )
        )
    with pytest.raises(ErrorNotDelegate):
        list(
            GetDelegate(account=account).call(
                user_ids=[account.primary_smtp_address], include_permissions=True
            )
        )
    assert account.mail_tips.recipient_address.email_address == account.primary_smtp_address


def test_mark_as_junk_moves_with_new_ids(account: Account) -> None:
    item = Message(account=account, folder=account.inbox, subject="Spam?").save()
    item.mark_as_junk(is_junk=True, move_item=False)
    assert account.inbox.get(subject="Spam?").id == item.id
    old_id = item.id
    item.mark_as_junk(is_junk=True, move_item=True)
    assert account.inbox.filter(subject="Spam?").count() == 0
    moved = account.junk.get(subject="Spam?")
    assert moved.id == item.id != old_id
    item.mark_as_junk(is_junk=False, move_item=True)
    assert account.inbox.get(subject="Spam?").id == item.id


def test_directory_lookups_and_convert_id(account: Account) -> None:
    assert list(account.protocol.get_roomlists()) == []
    with pytest.raises(ErrorNameResolutionNoResults):
        list(account.protocol.get_rooms("rooms@example.com"))
    with pytest.raises(ErrorNameResolutionNoResults):
        account.protocol.expand_dl("nolist@example.com")
    with pytest.raises(ErrorAccessDenied):
        account.protocol.get_searchable_mailboxes()
    item_id = account.inbox.id
    [hex_id] = account.protocol.convert_ids(
        [AlternateId(id=item_id, format="EwsId", mailbox=account.primary_smtp_address)],
        destination_format="HexEntryId",
    )
    [back] = account.protocol.convert_ids(
        [AlternateId(id=hex_id.id, format="HexEntryId", mailbox=account.primary_smtp_address)],
        destination_format="EwsId",
    )
    assert back.id == item_id and hex_id.id != item_id


def test_find_people_and_get_persona(account: Account) -> None:
    from exchangelib import Contact
    from exchangelib.errors import ErrorInvalidIdMalformed
    from exchangelib.items import Persona
    from exchangelib.services import GetPersona

    Contact(account=account, folder=account.contacts, display_name="John Smith").save()
    Contact(account=account, folder=account.contacts, display_name="Ann Lee").save()
    assert sorted(p.display_name for p in account.contacts.people()) == ["Ann Lee", "John Smith"]
    johns = list(account.contacts.people().filter(display_name="John Smith"))
    assert [p.display_name for p in johns] == ["John Smith"]
    assert [p.display_name for p in account.contacts.people().filter("DisplayName:ann")] == [
        "Ann Lee"
    ]
    [fetched] = list(account.fetch_personas([johns[0]]))
    assert fetched.display_name == "John Smith"
    with pytest.raises(ErrorInvalidIdMalformed):
        GetPersona(account=account).get(personas=[Persona(id="AAA=", changekey="x")])


def test_archive_item_without_an_archive_mailbox(account: Account) -> None:
    message = Message(folder=account.inbox, subject="Old news")
    message.save()
    # exchangelib 5.6 has no class for this ResponseCode and raises TransportError
    with pytest.raises(TransportError, match="ErrorArchiveMailboxNotEnabled"):
        message.archive(to_folder=account.trash)
    assert [m.subject for m in account.inbox.all()] == ["Old news"]  # it stays
