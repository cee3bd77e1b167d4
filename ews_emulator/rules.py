"""Inbox rules run on delivery: what UpdateInboxRules stored (`operations/settings.py`) acts
on each message delivered to a mailbox's Inbox, as Exchange's server-side rules do.

References (ews_emulator/README.md, "Inbox rules on delivery"): "Rule (RuleType)"
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/rule-ruletype),
"Conditions"
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/conditions),
"Exceptions"
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/exceptions),
"Actions (RuleActionsType)"
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/actions-ruleactionstype)
and the pages of their child elements.
"""

from __future__ import annotations

import base64
import copy
import email
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

from . import items as itm
from .soap import Element, child, children, local, parse_dt, parse_xml, sub, t, text_of
from .store import ItemRow, Mailbox

if TYPE_CHECKING:
    from .mailstore import MailStore

RULES = "rule"  # the settings kind UpdateInboxRules keeps rules under

# Properties no emulated message has: a condition asking for them true never holds.
NEVER = frozenset(
    {
        "FlaggedForAction",
        "IsApprovalRequest",
        "IsAutomaticForward",
        "IsAutomaticReply",
        "IsEncrypted",
        "IsNDR",
        "IsPermissionControlled",
        "IsReadReceipt",
        "IsSigned",
        "IsVoicemail",
        "MessageClassifications",
        "FromConnectedAccounts",
    }
)


def _kids(elem: Element | None) -> list[Element]:
    return list(elem) if elem is not None else []


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def _strings(predicate: Element) -> list[str]:
    return [s.text.lower() for s in children(predicate, "String") if s.text]


def _addresses(holder: Element | None) -> list[str]:
    if holder is None:
        return []
    return [
        (e.text or "").strip().lower()
        for e in holder.iter(t("EmailAddress"))
        if (e.text or "").strip()
    ]


def _contains(strings: list[str], *texts: str) -> bool:
    haystack = "\n".join(texts).lower()
    return any(s in haystack for s in strings)


def _people(elem: Element, *tags: str) -> str:
    """Names and addresses of these recipient (or sender) lists, as one text."""
    out = []
    for tag in tags:
        holder = child(elem, tag)
        for mb in holder.iter(t("Mailbox")) if holder is not None else []:
            out.append(f"{text_of(mb, 'Name') or ''} {text_of(mb, 'EmailAddress') or ''}")
    return "\n".join(out)


def _headers(elem: Element) -> str:
    mime = text_of(elem, "MimeContent")
    if not mime:
        return ""
    message = email.message_from_bytes(base64.b64decode(mime))
    return "\n".join(f"{k}: {v}" for k, v in message.items())


def holds(name: str, predicate: Element, elem: Element, owner: Mailbox) -> bool:
    """Whether one predicate of Conditions or Exceptions holds for a delivered message.
    String lists hold when any of their strings occurs (ignoring case)."""
    me = owner.smtp.lower()
    to, cc = _addresses(child(elem, "ToRecipients")), _addresses(child(elem, "CcRecipients"))
    body = itm.body_text(elem)[0]
    subject = text_of(elem, "Subject") or ""
    if name == "Categories":
        mine = {(s.text or "").lower() for s in children(child(elem, "Categories"), "String")}
        return bool(mine & set(_strings(predicate)))
    if name == "ContainsBodyStrings":
        return _contains(_strings(predicate), body)
    if name == "ContainsHeaderStrings":
        return _contains(_strings(predicate), _headers(elem))
    if name == "ContainsRecipientStrings":
        return _contains(_strings(predicate), _people(elem, "ToRecipients", "CcRecipients"))
    if name == "ContainsSenderStrings":
        return _contains(_strings(predicate), _people(elem, "From"))
    if name == "ContainsSubjectOrBodyStrings":
        return _contains(_strings(predicate), subject, body)
    if name == "ContainsSubjectStrings":
        return _contains(_strings(predicate), subject)
    if name == "FromAddresses":
        return bool(set(_addresses(child(elem, "From"))) & set(_addresses(predicate)))
    if name == "SentToAddresses":
        return bool(set(to) & set(_addresses(predicate)))
    if name == "HasAttachments":
        return _true(predicate.text) == _true(text_of(elem, "HasAttachments"))
    if name == "Importance":
        return (predicate.text or "") == (text_of(elem, "Importance") or "Normal")
    if name == "Sensitivity":
        return (predicate.text or "") == (text_of(elem, "Sensitivity") or "Normal")
    if name == "IsMeetingRequest":
        return _true(predicate.text) == (local(elem.tag) == "MeetingRequest")
    if name == "IsMeetingResponse":
        return _true(predicate.text) == (local(elem.tag) == "MeetingResponse")
    if name == "ItemClasses":
        item_class = (text_of(elem, "ItemClass") or itm.item_class_of(local(elem.tag))).lower()
        return item_class in _strings(predicate)
    if name == "NotSentToMe":
        return _true(predicate.text) == (me not in to)
    if name == "SentToMe":
        return _true(predicate.text) == (me in to)
    if name == "SentCcMe":
        return _true(predicate.text) == (me in cc)
    if name == "SentOnlyToMe":
        return _true(predicate.text) == (to == [me] and not cc)
    if name == "SentToOrCcMe":
        return _true(predicate.text) == (me in to or me in cc)
    if name == "WithinDateRange":
        received = parse_dt(text_of(elem, "DateTimeReceived"))
        after = parse_dt(text_of(predicate, "StartDateTime"))
        before = parse_dt(text_of(predicate, "EndDateTime"))
        return received is not None and (
            (after is None or received >= after) and (before is None or received <= before)
        )
    if name == "WithinSizeRange":  # in kilobytes ("WithinSizeRange")
        size = int(text_of(elem, "Size", "0") or "0") / 1024
        low = int(text_of(predicate, "MinimumSize", "0") or "0")
        high = text_of(predicate, "MaximumSize")
        return size >= low and (high is None or size <= int(high))
    if name in NEVER:
        return not _true(predicate.text) if predicate.text else False
    return False


def applies(rule: Element, elem: Element, owner: Mailbox) -> bool:
    """Every predicate of Conditions holds (none: every message), and none of Exceptions."""
    if not _true(text_of(rule, "IsEnabled", "true")):
        return False
    conditions = _kids(child(rule, "Conditions"))
    exceptions = _kids(child(rule, "Exceptions"))
    if not all(holds(local(p.tag), p, elem, owner) for p in conditions):
        return False
    return not any(holds(local(p.tag), p, elem, owner) for p in exceptions)


def _priority(rule: Element) -> int:
    try:
        return int(text_of(rule, "Priority") or "0")
    except ValueError:
        return 0


def rules_of(mail: MailStore, mailbox: Mailbox) -> list[Element]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    found = [parse_xml(xml, parser) for _, xml in mail.store.settings(mailbox.id, RULES)]
    return sorted(found, key=_priority)


def _folder(mail: MailStore, mailbox: Mailbox, action: Element) -> str | None:
    """The folder a MoveToFolder / CopyToFolder names (FolderId or DistinguishedFolderId),
    when it is one of this mailbox's."""
    folder_id = child(action, "FolderId")
    if folder_id is not None:
        folder = mail.store.folder(folder_id.get("Id", ""))
        return folder.id if folder is not None and folder.mailbox_id == mailbox.id else None
    named = child(action, "DistinguishedFolderId")
    if named is not None:
        folder = mail.store.distinguished_folder(mailbox.id, named.get("Id", ""))
        return folder.id if folder is not None else None
    return None


def _outgoing(elem: Element, owner: Mailbox, to: list[str], attach: bool) -> Element:
    """A forward of a delivered message from the mailbox's owner ("FW: "), the original
    below, or as an item attachment."""
    made = etree.Element(t("Message"), nsmap={"t": itm.T_NS})
    sub(made, t("Subject"), "FW: " + (text_of(elem, "Subject") or ""))
    text, body_type = itm.body_text(elem)
    sub(made, t("Body"), "" if attach else text, BodyType=body_type or "Text")
    if attach:
        holder = sub(made, t("Attachments"))
        attachment = sub(holder, t("ItemAttachment"))
        sub(attachment, t("Name"), text_of(elem, "Subject") or "")
        original = copy.deepcopy(elem)
        for name in itm.COMPUTED | {"MimeContent"}:
            for old in children(original, name):
                original.remove(old)
        attachment.append(original)
    recipients = sub(made, t("ToRecipients"))
    for address in to:
        recipients.append(itm.mailbox_elem(t("Mailbox"), None, address))
    sender = sub(made, t("From"))
    sender.append(itm.mailbox_elem(t("Mailbox"), owner.display_name, owner.smtp))
    return made


def _send(
    mail: MailStore,
    c: sqlite3.Connection,
    elem: Element,
    addresses: list[str],
    attachments: list[Element],
) -> None:
    for address in addresses:
        target = mail.store.mailbox(address)
        if target is not None and target.has_mailbox:
            mail.deliver_message(c, target, copy.deepcopy(elem), attachments, by_rule=True)


def run(
    mail: MailStore,
    c: sqlite3.Connection,
    owner: Mailbox,
    row: ItemRow,
    *,
    by_rule: bool = False,
) -> ItemRow | None:
    """Run the mailbox's enabled rules, by Priority, on a message just delivered to its
    Inbox; the item as it ends (None when deleted for good). A message that a rule
    forwarded or redirected is not forwarded or redirected again (no rule loops)."""
    rules = rules_of(mail, owner)
    if not rules:
        return row
    elem = parse_xml(row.xml)
    changes: list[Callable[[Element], set[str]]] = []
    move_to: str | None = None
    copies: list[str] = []
    gone = False
    for rule in rules:
        if not applies(rule, elem, owner):
            continue
        for action in _kids(child(rule, "Actions")):
            name = local(action.tag)
            if name == "AssignCategories":
                changes.append(_categories(_strings_as_is(action)))
            elif name == "MarkImportance" and action.text:
                changes.append(_setter("Importance", action.text))
            elif name == "MarkAsRead" and _true(action.text):
                changes.append(_setter("IsRead", "true"))
            elif name == "MoveToFolder":
                move_to = _folder(mail, owner, action) or move_to
            elif name == "CopyToFolder":
                target = _folder(mail, owner, action)
                if target is not None:
                    copies.append(target)
            elif name == "Delete" and _true(action.text):
                deleted = mail.store.distinguished_folder(owner.id, "deleteditems")
                move_to = deleted.id if deleted is not None else move_to
            elif name == "PermanentDelete" and _true(action.text):
                gone = True
            elif name in ("ForwardToRecipients", "ForwardAsAttachmentToRecipients"):
                if not by_rule:
                    attach = name == "ForwardAsAttachmentToRecipients"
                    made = _outgoing(elem, owner, _addresses(action), attach)
                    _send(mail, c, made, _addresses(action), [])
            elif name == "RedirectToRecipients" and not by_rule:
                attachments = [parse_xml(x) for _, x in mail.store.attachments(row.id)]
                _send(mail, c, elem, _addresses(action), attachments)
        if _true(text_of(child(rule, "Actions"), "StopProcessingRules")):
            break
    for target in copies:
        folder = mail.store.folder(target)
        if folder is not None:
            mail.copy_item(c, mail.store.item(row.id) or row, folder)
    if gone:
        mail.store.remove_item(c, row.id)
        return None
    if changes or move_to is not None:

        def mutate(e: Element) -> set[str]:
            touched: set[str] = set()
            for change in changes:
                touched |= change(e)
            itm.sort_children(e, row.kind)
            return touched

        return mail.change_item(c, mail.store.item(row.id) or row, mutate, to_folder=move_to)
    return row


def _strings_as_is(holder: Element) -> list[str]:
    return [s.text for s in children(holder, "String") if s.text]


def _setter(name: str, value: str) -> Callable[[Element], set[str]]:
    def change(elem: Element) -> set[str]:
        for old in children(elem, name):
            elem.remove(old)
        sub(elem, t(name), value)
        return {name}

    return change


def _categories(names: list[str]) -> Callable[[Element], set[str]]:
    def change(elem: Element) -> set[str]:
        holder = child(elem, "Categories")
        if holder is None:
            holder = sub(elem, t("Categories"))
        have = {s.text for s in children(holder, "String")}
        for name in names:
            if name not in have:
                sub(holder, t("String"), name)
        return {"Categories"}

    return change
