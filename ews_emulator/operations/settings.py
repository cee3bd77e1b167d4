"""Mailbox settings: Inbox rules, automatic replies (OOF), user configurations, delegates
and MailTips. Rules, OOF settings and user configurations are kept as the XML the client
sent (table `mailbox_settings`)."""

from __future__ import annotations

import copy

from lxml import etree

from ..rules import RULES
from ..soap import (
    Element,
    EwsError,
    child,
    children,
    local,
    m,
    new_id,
    parse_xml,
    response_message,
    sub,
    t,
    text_of,
)
from .base import Ctx, id_elements, operation, resolve_folder, resolve_item, response_root

OOF = "oof"
USER_CONFIGURATION = "userconfig"
# Exchange 2016/2019's default maximum message size (MaxSendSize), 35 MB in bytes.
MAX_MESSAGE_SIZE = 36_700_160


def single_response(op: str, error: EwsError | None = None) -> Element:
    """`<m:{op}Response ResponseClass=...><m:ResponseCode>`: operations that answer one
    result directly, without ResponseMessages."""
    root = etree.Element(m(f"{op}Response"), ResponseClass="Error" if error else "Success")
    if error is not None:
        sub(root, m("MessageText"), error.text)
    sub(root, m("ResponseCode"), error.code if error else "NoError")
    return root


# -- Inbox rules -----------------------------------------------------------------------------


@operation("GetInboxRules")
def get_inbox_rules(ctx: Ctx, req: Element) -> Element:
    root = single_response("GetInboxRules")
    sub(root, m("OutlookRuleBlobExists"), "false")
    rules = ctx.store.settings(ctx.target.id, RULES)
    if rules:
        holder = sub(root, m("InboxRules"))
        for _, xml in sorted(rules, key=lambda r: _priority(parse_xml(r[1]))):
            holder.append(parse_xml(xml))
    return root


def _priority(rule: Element) -> int:
    try:
        return int(text_of(rule, "Priority") or "0")
    except ValueError:
        return 0


def _rule_error(text: str) -> EwsError:
    return EwsError("ErrorInboxRulesValidationError", text)


@operation("UpdateInboxRules")
def update_inbox_rules(ctx: Ctx, req: Element) -> Element:
    """CreateRuleOperation, SetRuleOperation and DeleteRuleOperation, applied in order; the
    first failing one stops the request."""
    mailbox = ctx.target.id
    try:
        operations = child(req, "Operations")
        for op in operations if operations is not None else []:
            kind = local(op.tag)
            if kind == "DeleteRuleOperation":
                rule_id = text_of(op, "RuleId") or ""
                if not ctx.store.delete_setting(mailbox, RULES, rule_id):
                    raise EwsError("ErrorItemNotFound", "The rule was not found.")
                continue
            rule = child(op, "Rule")
            if rule is None or not (text_of(rule, "DisplayName") or "").strip():
                raise _rule_error("A validation error occurred while executing the rule operation.")
            stored = copy.deepcopy(rule)
            for old in children(stored, "RuleId"):
                stored.remove(old)
            if kind == "CreateRuleOperation":
                rule_id = new_id()[:24]
            elif kind == "SetRuleOperation":
                rule_id = text_of(rule, "RuleId") or ""
                if ctx.store.setting(mailbox, RULES, rule_id) is None:
                    raise EwsError("ErrorItemNotFound", "The rule was not found.")
            else:
                raise EwsError("ErrorInvalidRequest", f"Unknown rule operation {kind}")
            id_elem = etree.Element(t("RuleId"))
            id_elem.text = rule_id
            stored.insert(0, id_elem)
            ctx.store.put_setting(mailbox, RULES, rule_id, etree.tostring(stored))
    except EwsError as e:
        return single_response("UpdateInboxRules", e)
    return single_response("UpdateInboxRules")


# -- automatic replies -----------------------------------------------------------------------


def _oof_owner(ctx: Ctx, req: Element) -> int:
    address = text_of(child(req, "Mailbox"), "Address") or ctx.target.smtp
    owner = ctx.store.mailbox(address)
    if owner is None:
        raise EwsError("ErrorMailRecipientNotFound", f"No mailbox with address {address}")
    if not ctx.can_access(owner.id):
        raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials.")
    return owner.id


def _oof_message(op: str, error: EwsError | None = None) -> tuple[Element, Element]:
    root = etree.Element(m(f"{op}Response"))
    msg = sub(root, m("ResponseMessage"), ResponseClass="Error" if error else "Success")
    if error is not None:
        sub(msg, m("MessageText"), error.text)
    sub(msg, m("ResponseCode"), error.code if error else "NoError")
    return root, msg


@operation("GetUserOofSettingsRequest")
def get_oof(ctx: Ctx, req: Element) -> Element:
    try:
        owner = _oof_owner(ctx, req)
    except EwsError as e:
        return _oof_message("GetUserOofSettings", e)[0]
    root, _ = _oof_message("GetUserOofSettings")
    stored = ctx.store.setting(owner, OOF, "")
    settings = etree.SubElement(root, t("OofSettings"))
    if stored is None:
        sub(settings, t("OofState"), "Disabled")
        sub(settings, t("ExternalAudience"), "All")
        sub(sub(settings, t("InternalReply")), t("Message"))
        sub(sub(settings, t("ExternalReply")), t("Message"))
    else:
        for elem in parse_xml(stored):
            settings.append(elem)
    sub(root, m("AllowExternalOof"), "All")
    return root


@operation("SetUserOofSettingsRequest")
def set_oof(ctx: Ctx, req: Element) -> Element:
    try:
        owner = _oof_owner(ctx, req)
        settings = child(req, "UserOofSettings")
        if settings is None:
            raise EwsError("ErrorInvalidRequest", "UserOofSettings is missing.")
        state = text_of(settings, "OofState")
        duration = child(settings, "Duration")
        if state == "Scheduled" and duration is None:
            raise EwsError("ErrorOofCannotSetScheduledState", "A duration is required.")
        if duration is not None and (text_of(duration, "EndTime") or "") <= (
            text_of(duration, "StartTime") or ""
        ):
            raise EwsError("ErrorInvalidScheduledOofDuration", "The end must be after the start.")
        ctx.store.put_setting(owner, OOF, "", etree.tostring(settings))
    except EwsError as e:
        return _oof_message("SetUserOofSettings", e)[0]
    return _oof_message("SetUserOofSettings")[0]


# -- user configurations ---------------------------------------------------------------------


def _config_key(ctx: Ctx, name_elem: Element | None) -> tuple[str, str]:
    """(folder id, configuration name) of a UserConfigurationName element."""
    if name_elem is None or not name_elem.get("Name"):
        raise EwsError("ErrorInvalidUserConfigurationName", "The name is missing.")
    folder_elem = next((c for c in name_elem if isinstance(c.tag, str)), None)
    if folder_elem is None:
        raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
    folder = resolve_folder(ctx, folder_elem)
    return folder.id, name_elem.get("Name", "")


def _config_parts(config: Element) -> dict[str, Element]:
    return {
        name: part
        for name in ("Dictionary", "XmlData", "BinaryData")
        if (part := child(config, name)) is not None
    }


@operation("CreateUserConfiguration")
def create_user_configuration(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("CreateUserConfiguration")
    config = child(req, "UserConfiguration")
    try:
        folder_id, name = _config_key(ctx, child(config, "UserConfigurationName"))
        key = f"{folder_id}/{name}"
        if ctx.store.setting(ctx.target.id, USER_CONFIGURATION, key) is not None:
            raise EwsError("ErrorItemSave", "A user configuration with that name already exists.")
        assert config is not None
        ctx.store.put_setting(ctx.target.id, USER_CONFIGURATION, key, etree.tostring(config))
    except EwsError as e:
        response_message(messages, "CreateUserConfiguration", e)
        return root
    response_message(messages, "CreateUserConfiguration")
    return root


@operation("UpdateUserConfiguration")
def update_user_configuration(ctx: Ctx, req: Element) -> Element:
    """The parts sent replace the stored ones; the others stay."""
    root, messages = response_root("UpdateUserConfiguration")
    config = child(req, "UserConfiguration")
    try:
        folder_id, name = _config_key(ctx, child(config, "UserConfigurationName"))
        key = f"{folder_id}/{name}"
        stored = ctx.store.setting(ctx.target.id, USER_CONFIGURATION, key)
        if stored is None or config is None:
            raise EwsError("ErrorItemNotFound", "The user configuration was not found.")
        merged = parse_xml(stored)
        for part_name, part in _config_parts(config).items():
            old = child(merged, part_name)
            if old is not None:
                merged.remove(old)
            merged.append(copy.deepcopy(part))
        ctx.store.put_setting(ctx.target.id, USER_CONFIGURATION, key, etree.tostring(merged))
    except EwsError as e:
        response_message(messages, "UpdateUserConfiguration", e)
        return root
    response_message(messages, "UpdateUserConfiguration")
    return root


@operation("GetUserConfiguration")
def get_user_configuration(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("GetUserConfiguration")
    try:
        name_elem = child(req, "UserConfigurationName")
        folder_id, name = _config_key(ctx, name_elem)
        stored = ctx.store.setting(ctx.target.id, USER_CONFIGURATION, f"{folder_id}/{name}")
        if stored is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
    except EwsError as e:
        response_message(messages, "GetUserConfiguration", e)
        return root
    wanted = set((text_of(req, "UserConfigurationProperties") or "All").split())
    msg = response_message(messages, "GetUserConfiguration")
    config = sub(msg, m("UserConfiguration"))
    assert name_elem is not None
    name_copy = sub(config, t("UserConfigurationName"), Name=name)
    for folder_elem in name_elem:
        if isinstance(folder_elem.tag, str):
            name_copy.append(copy.deepcopy(folder_elem))
    if wanted & {"All", "Id"}:
        sub(config, t("ItemId"), Id=new_id(), ChangeKey=new_id()[:20])
    for part_name, part in _config_parts(parse_xml(stored)).items():
        if wanted & {"All", part_name}:
            config.append(part)
    return root


@operation("DeleteUserConfiguration")
def delete_user_configuration(ctx: Ctx, req: Element) -> Element:
    root, messages = response_root("DeleteUserConfiguration")
    try:
        folder_id, name = _config_key(ctx, child(req, "UserConfigurationName"))
        if not ctx.store.delete_setting(ctx.target.id, USER_CONFIGURATION, f"{folder_id}/{name}"):
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
    except EwsError as e:
        response_message(messages, "DeleteUserConfiguration", e)
        return root
    response_message(messages, "DeleteUserConfiguration")
    return root


# -- delegates and MailTips --------------------------------------------------------------


@operation("GetDelegate")
def get_delegate(ctx: Ctx, req: Element) -> Element:
    """No mailbox has delegates here: asking for a user answers why it is not one."""
    root = single_response("GetDelegate")
    messages = sub(root, m("ResponseMessages"))
    for user in children(child(req, "UserIds"), "UserId"):
        sid = text_of(user, "SID")
        address = text_of(user, "PrimarySmtpAddress") or ""
        if sid is not None:
            error = EwsError("ErrorInvalidUserSid", "The user SID is invalid.")
        elif ctx.store.mailbox(address) is None:
            error = EwsError("ErrorDelegateNoUser", "The delegate does not map to a user.")
        else:
            error = EwsError("ErrorNotDelegate", "The specified user is not a delegate.")
        msg = sub(messages, m("DelegateUserResponseMessageType"), ResponseClass="Error")
        sub(msg, m("MessageText"), error.text)
        sub(msg, m("ResponseCode"), error.code)
    sub(root, m("DeliverMeetingRequests"), "DelegatesAndMe")
    return root


@operation("GetMailTips")
def get_mail_tips(ctx: Ctx, req: Element) -> Element:
    """Per recipient: its address, whether it is an emulator mailbox, and its OOF state."""
    root = single_response("GetMailTips")
    messages = sub(root, m("ResponseMessages"))
    for recipient in children(child(req, "Recipients"), "Mailbox"):
        address = text_of(recipient, "EmailAddress") or ""
        msg = sub(messages, m("MailTipsResponseMessageType"), ResponseClass="Success")
        sub(msg, m("ResponseCode"), "NoError")
        tips = sub(msg, m("MailTips"))
        holder = sub(tips, t("RecipientAddress"))
        sub(holder, t("EmailAddress"), address)
        sub(holder, t("RoutingType"), "SMTP")
        sub(tips, t("PendingMailTips"))
        known = ctx.store.mailbox(address)
        sub(tips, t("MailboxFull"), "false")
        sub(tips, t("TotalMemberCount"), "1")
        sub(tips, t("MaxMessageSize"), str(MAX_MESSAGE_SIZE))
        sub(tips, t("IsModerated"), "false")
        sub(tips, t("InvalidRecipient"), "false" if known else "true")
    return root


# -- MarkAsJunk --------------------------------------------------------------------------


@operation("MarkAsJunk")
def mark_as_junk(ctx: Ctx, req: Element) -> Element:
    """IsJunk with MoveItem moves the item to Junk Email, not IsJunk with MoveItem to the
    Inbox (it gets a new id like any move); without MoveItem the item stays. The sender
    lists of the mailbox's junk filter are not kept."""
    root, messages = response_root("MarkAsJunk")
    is_junk = req.get("IsJunk", "false") == "true"
    move = req.get("MoveItem", "false") == "true"
    for ident in id_elements(child(req, "ItemIds")):
        try:
            row, _ = resolve_item(ctx, ident)
            moved_id = None
            if move:
                target = ctx.store.distinguished_folder(
                    row.mailbox_id, "junkemail" if is_junk else "inbox"
                )
                assert target is not None
                if target.id != row.folder_id:
                    with ctx.store.write() as c:
                        moved_id = ctx.mail.change_item(c, row, to_folder=target.id)
        except EwsError as e:
            response_message(messages, "MarkAsJunk", e)
            continue
        msg = response_message(messages, "MarkAsJunk")
        if moved_id is not None:
            sub(msg, m("MovedItemId"), Id=moved_id.id, ChangeKey=moved_id.change_key)
    return root


# -- ArchiveItem -----------------------------------------------------------------------------


@operation("ArchiveItem")
def archive_item(ctx: Ctx, req: Element) -> Element:
    """No emulated mailbox has an archive mailbox, and "An archive mailbox must be enabled in
    order for this operation to work" ("ArchiveItem operation"): each item that exists
    answers `ErrorArchiveMailboxNotEnabled` ("ResponseCode": "the archive mailbox was not
    enabled") and stays where it is; an unknown one answers its own error."""
    root, messages = response_root("ArchiveItem")
    for ident in id_elements(child(req, "ItemIds")):
        try:
            resolve_item(ctx, ident)
            raise EwsError("ErrorArchiveMailboxNotEnabled", "The archive mailbox is not enabled.")
        except EwsError as e:
            response_message(messages, "ArchiveItem", e)
    return root
