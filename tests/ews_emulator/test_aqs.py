"""FindItem's QueryString (AQS), with exchangelib as the client: `folder.filter("...")`."""

from __future__ import annotations

import pytest
from exchangelib import Account, Message, Q
from exchangelib.errors import ErrorInvalidRestriction
from exchangelib.restriction import Restriction
from exchangelib.services import FindItem

from tests.waiting import eventually


def test_query_strings_search_the_keyword_properties(account: Account) -> None:
    me = account.primary_smtp_address
    for subject, body, to in (
        ("Project plan", "Sales figures for Q3", "sadie.daniels@example.org"),
        ("Production line", "Nothing to see", me),
        ("Lunch", "<p>Project <b>kick-off</b> on Friday</p>", "hope@hotmail.com"),
    ):
        Message(
            account=account,
            folder=account.drafts,
            subject=subject,
            body=body,
            to_recipients=[to],
        ).save()

    def found(query: str) -> list[str]:
        return sorted(m.subject for m in account.drafts.filter(query))

    # a word is a prefix match in the property named, case ignored
    assert found("subject:pro") == ["Production line", "Project plan"]
    assert found('subject:"project"') == ["Project plan"]  # quoted: the whole word
    assert found("subject:(plan project)") == ["Project plan"]  # both words, any order
    assert found('subject:"plan project"') == []  # a quoted phrase keeps its order
    # without a keyword every keyword property is searched (the HTML body as text)
    assert found("project") == ["Lunch", "Project plan"]
    assert found("kick off") == ["Lunch"]
    assert found("body:sales figures") == ["Project plan"]
    assert found('to:"@hotmail.com"') == ["Lunch"]
    assert found("participants:sadie AND subject:project") == ["Project plan"]
    assert found("lunch OR production") == ["Lunch", "Production line"]
    assert found("project NOT subject:project") == ["Lunch"]
    assert found("kind:meetings") == []
    assert found("kind:email") == ["Lunch", "Production line", "Project plan"]
    assert found("isread:true") == []  # exchangelib saves its drafts unread
    # a QueryString excludes restrictions (exchangelib refuses it too: its service is used)
    both = FindItem(account=account).call(
        folders=[account.drafts],
        additional_fields=None,
        restriction=Restriction(Q(subject="Lunch"), folders=[account.drafts], applies_to="items"),
        order_fields=None,
        shape="IdOnly",
        query_string=Restriction(Q("lunch"), folders=[account.drafts], applies_to="items"),
        depth="Shallow",
        calendar_view=None,
        max_items=None,
        offset=0,
    )
    with pytest.raises(ErrorInvalidRestriction):
        list(both)


def test_a_sent_message_is_found_by_its_recipient(account: Account) -> None:
    """exchangelib's own suite searches Sent Items this way (test_filter_with_aqs)."""
    Message(
        account=account,
        subject="Quarterly numbers",
        body="See attached",
        to_recipients=[account.primary_smtp_address],
    ).send_and_save()
    sent = account.sent.get(subject="Quarterly numbers")
    address = sent.to_recipients[0].email_address
    assert account.sent.get(f"To:{address} AND Subject:Quarterly").id == sent.id
    assert account.sent.get(f"Participants:{address}").id == sent.id
    eventually(lambda: account.inbox.filter("subject:quarterly").count(), "the delivered copy")
