"""Changes to mailboxes, shared by the EWS operations and the control API.

Every function here runs inside a write transaction of the store, takes the next change
sequence of the mailbox, moves the item's change key and last-modified time, and rewrites
the item's canonical element through `items.finalize`.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from lxml import etree

from . import items as itm
from . import recurrence, rules
from .messages import MIME_FIELDS, apply_mime, set_mime
from .soap import (
    Element,
    EwsError,
    child,
    children,
    fmt_dt,
    new_change_key,
    new_id,
    parse_xml,
    sub,
    t,
    text_of,
    utcnow,
)
from .store import Folder, ItemRow, Mailbox, Store

# Seconds between a send and the delivery of the recipients' copies: Exchange's transport
# delivers asynchronously; the reference gives no figure, so a short one of our choosing
# (ews_emulator/README.md, "Delivery").
DELIVERY_DELAY = 1.0

# What a change to an item's extended properties alone touches (`items.apply_set`).
EXTENDED_ONLY = frozenset({"ExtendedProperty"})

# What happens at a recipient's mailbox when a sent message reaches it.
Delivery = Callable[[sqlite3.Connection], None]

log = logging.getLogger(__name__)

DEFAULT_FOLDER = {
    "CalendarItem": "calendar",
    "Contact": "contacts",
    "DistributionList": "contacts",
    "Task": "tasks",
}


class MailStore:
    """Item-level changes on top of `Store`."""

    def __init__(self, store: Store, *, delivery_delay: float = DELIVERY_DELAY) -> None:
        self.store = store
        # Seconds between a send and the recipients' copies (0: in the sending transaction).
        self.delivery_delay = delivery_delay
        # Deliveries sent but not made yet: (due, number, action), a heap in due order, run
        # one at a time by one thread (in the order they were sent).
        self._queued: list[tuple[float, int, Delivery]] = []
        self._running = 0
        self._queue = threading.Condition()
        self._queue_numbers = itertools.count()
        self._worker: threading.Thread | None = None

    # -- lookups ---------------------------------------------------------------------------

    def display_name(self, smtp: str) -> str | None:
        mb = self.store.mailbox(smtp)
        return mb.display_name if mb else None

    def folder_or_error(self, folder_id: str) -> Folder:
        folder = self.store.folder(folder_id)
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found.")
        return folder

    def default_folder(self, mailbox: Mailbox, kind: str, disposition: str = "SaveOnly") -> Folder:
        name = DEFAULT_FOLDER.get(kind)
        if name is None:
            name = "drafts" if disposition == "SaveOnly" else "sentitems"
        folder = self.store.distinguished_folder(mailbox.id, name)
        if folder is None:
            raise EwsError("ErrorFolderNotFound", f"No {name} folder")
        return folder

    # -- writing items ---------------------------------------------------------------------

    def _stamp(self, row: ItemRow, mailbox: Mailbox, *, attachments: bool = True) -> itm.Stamp:
        """What the server knows of the item; without `attachments`, for `itm.restamp`,
        which does not read them (their summaries are not looked up)."""
        folder = self.store.folder(row.folder_id) if row.folder_id else None
        summaries = (
            [itm.summary_of_attachment(parse_xml(xml)) for _, xml in self.store.attachments(row.id)]
            if attachments
            else []
        )
        return itm.Stamp(
            item_id=row.id,
            change_key=row.change_key,
            folder_id=row.folder_id,
            folder_change_key=folder.change_key if folder else "",
            created=row.created,
            modified=row.modified,
            owner_smtp=mailbox.smtp,
            owner_name=mailbox.display_name,
            attachments=summaries,
            expand=recurrence.first_last,
        )

    def _mailbox(self, mailbox_id: int) -> Mailbox:
        mb = self.store.mailbox_by_id(mailbox_id)
        if mb is None:
            raise EwsError("ErrorNonExistentMailbox", "The mailbox does not exist.")
        return mb

    def create_item(
        self,
        c: sqlite3.Connection,
        mailbox: Mailbox,
        folder_id: str,
        elem: Element,
        *,
        attachments: list[Element] | None = None,
        master_id: str | None = None,
        fresh: bool = True,
        item_id: str | None = None,
    ) -> ItemRow:
        """Store a new item from a client-sent (or emulator-built) item element."""
        kind = itm.KIND_FOR_TAG.get(etree.QName(elem).localname, "Message")
        elem.tag = t(kind)
        now = fmt_dt(utcnow())
        if fresh:
            itm.prepare_new(elem, kind, mailbox.smtp, mailbox.display_name, now)
        else:
            for name in itm.COMPUTED:
                for old in children(elem, name):
                    elem.remove(old)
        seq = self.store.next_seq(c, mailbox.id)
        row = ItemRow(
            id=item_id or new_id(b"\x00"),
            mailbox_id=mailbox.id,
            folder_id=folder_id,
            kind=kind,
            change_key=new_change_key(),
            seq=seq,
            content_seq=seq,
            entered_seq=seq,
            is_read=(text_of(elem, "IsRead", "true") == "true"),
            master_id=master_id,
            created=now,
            modified=now,
            xml=b"",
        )
        for pos, att in enumerate(attachments or []):
            self._insert_attachment(c, row, att, pos)
        if kind in itm.MESSAGE_KINDS and child(elem, "MimeContent") is None:
            set_mime(elem, attachments or [])
        row.xml = itm.finalize(elem, kind, self._stamp(row, mailbox), self.display_name)
        self.store.insert_item(c, row)
        return row

    def _insert_attachment(
        self, c: sqlite3.Connection, row: ItemRow, att: Element, pos: int
    ) -> str:
        for old in children(att, "AttachmentId"):
            att.remove(old)
        itm.normalize_dates(att)
        att_id = new_id(b"\x03")
        id_elem = etree.Element(t("AttachmentId"), {"Id": att_id})
        att.insert(0, id_elem)
        content = child(att, "Content")
        size = len(content.text or "") * 3 // 4 if content is not None else len(etree.tostring(att))
        for old in children(att, "Size"):
            att.remove(old)
        for old in children(att, "LastModifiedTime"):
            att.remove(old)
        order = ("AttachmentId", "Name", "ContentType", "ContentId", "ContentLocation")
        sub(att, t("Size"), str(size))
        sub(att, t("LastModifiedTime"), fmt_dt(utcnow()))
        if child(att, "IsInline") is None:
            sub(att, t("IsInline"), "false")
        tail = ("Size", "LastModifiedTime", "IsInline", "IsContactPhoto", "Content")

        def key(e: Element) -> int:
            name = etree.QName(e).localname
            if name in order:
                return order.index(name)
            if name in tail:
                return 10 + tail.index(name)
            return 30

        att[:] = sorted(att, key=key)
        c.execute(
            "INSERT INTO attachments(id, item_id, position, xml) VALUES(?,?,?,?)",
            (att_id, row.id, pos, etree.tostring(att)),
        )
        return att_id

    def change_item(
        self,
        c: sqlite3.Connection,
        row: ItemRow,
        mutate: Callable[[Element], set[str]] | None = None,
        *,
        to_folder: str | None = None,
        content: bool | None = None,
        attachments_changed: bool = False,
    ) -> ItemRow:
        """Apply `mutate` to the item's element (and/or move it) and write it back."""
        mailbox = self._mailbox(row.mailbox_id)
        old_id = row.id
        if to_folder is not None and to_folder != row.folder_id and row.master_id is None:
            # Exchange gives a moved (or soft-deleted) item a new id; the old one is
            # ErrorItemNotFound from now on.
            row.id = new_id(b"\x00")
            row.xml = self.store.rekey_item(c, row, old_id)
        stored = row.xml
        elem = parse_xml(stored)
        touched: set[str] = set()
        if mutate is not None:
            touched = mutate(elem)
        # Extended properties alone (a sync client marking items) change no derived property.
        restamp = touched == EXTENDED_ONLY and row.folder_id == (to_folder or row.folder_id)
        if mutate is not None and not restamp:
            itm.normalize_dates(elem)
        if row.kind in itm.MESSAGE_KINDS:
            if "MimeContent" in touched:
                for name in MIME_FIELDS - {"Attachments"}:
                    if name not in touched:
                        for old in children(elem, name):
                            elem.remove(old)
                apply_mime(elem)
            elif touched & MIME_FIELDS or attachments_changed:
                full = [parse_xml(x) for _, x in self.store.attachments(row.id)]
                set_mime(elem, full)
        if content is None:
            content = bool(touched - {"IsRead"}) or to_folder is not None
        seq = self.store.next_seq(c, row.mailbox_id)
        old_folder, old_entered = row.folder_id, row.entered_seq
        row.seq = seq
        if content:
            row.content_seq = seq
        if to_folder is not None and to_folder != row.folder_id:
            row.folder_id = to_folder
            row.entered_seq = seq
        row.change_key = new_change_key()
        row.modified = fmt_dt(utcnow())
        row.is_read = text_of(elem, "IsRead", "true") == "true"
        xml = None
        if restamp and not attachments_changed:
            extended = itm.tchildren(elem, "ExtendedProperty")
            bare = self._stamp(row, mailbox, attachments=False)
            xml = itm.restamp(stored, extended, row.kind, bare)
        if xml is None:
            xml = itm.finalize(elem, row.kind, self._stamp(row, mailbox), self.display_name)
        row.xml = xml
        self.store.save_item(c, row, old_folder=old_folder, old_entered=old_entered, old_id=old_id)
        return row

    def touch_item(self, c: sqlite3.Connection, item_id: str) -> ItemRow:
        row = self.store.item(item_id)
        if row is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        return self.change_item(c, row, content=True)

    def copy_item(self, c: sqlite3.Connection, row: ItemRow, folder: Folder) -> ItemRow:
        mailbox = self._mailbox(folder.mailbox_id)
        elem = parse_xml(row.xml)
        attachments = [parse_xml(xml) for _, xml in self.store.attachments(row.id)]
        return self.create_item(c, mailbox, folder.id, elem, attachments=attachments, fresh=False)

    def delete_item(self, c: sqlite3.Connection, row: ItemRow, mode: str) -> None:
        """Delete as EWS DeleteType says: HardDelete, SoftDelete or MoveToDeletedItems."""
        mailbox = self._mailbox(row.mailbox_id)
        deleted_items = self.store.distinguished_folder(mailbox.id, "deleteditems")
        recoverable = self.store.distinguished_folder(mailbox.id, "recoverableitemsdeletions")
        if mode == "MoveToDeletedItems" and deleted_items and row.folder_id != deleted_items.id:
            self.change_item(c, row, to_folder=deleted_items.id)
        elif mode in ("SoftDelete", "MoveToDeletedItems") and recoverable:
            self.change_item(c, row, to_folder=recoverable.id)
        else:
            self.store.remove_item(c, row.id)

    # -- attachments -----------------------------------------------------------------------

    def add_attachment(
        self, c: sqlite3.Connection, row: ItemRow, att: Element
    ) -> tuple[str, ItemRow]:
        pos = len(self.store.attachments(row.id))
        att_id = self._insert_attachment(c, row, att, pos)
        return att_id, self.change_item(c, row, content=True, attachments_changed=True)

    def delete_attachment(self, c: sqlite3.Connection, attachment_id: str) -> ItemRow:
        found = self.store.attachment(attachment_id)
        if found is None:
            raise EwsError("ErrorAttachmentNotFound", "The attachment could not be found.")
        row = self.store.item(found[0])
        if row is None:
            raise EwsError("ErrorItemNotFound", "The parent item could not be found.")
        c.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
        return self.change_item(c, row, content=True, attachments_changed=True)

    # -- delivery --------------------------------------------------------------------------

    def deliver(
        self,
        c: sqlite3.Connection,
        recipient: Mailbox,
        elem: Element,
        *,
        attachments: list[Element] | None = None,
        folder: str = "inbox",
        by_rule: bool = False,
    ) -> ItemRow:
        """Put a received copy of a message into a mailbox folder (Inbox by default); the
        mailbox's Inbox rules then act on it (`rules.py`; `by_rule`: a rule of another
        mailbox forwarded or redirected it). Answers the item as the rules left it."""
        target = self.store.distinguished_folder(recipient.id, folder) or self.folder_or_error(
            folder
        )
        copy = parse_xml(etree.tostring(elem))
        for name in ("BccRecipients", "IsRead", "IsDraft", "DateTimeReceived", "ReceivedBy"):
            for old in children(copy, name):
                copy.remove(old)
        sub(copy, t("IsRead"), "false")
        sub(copy, t("IsDraft"), "false")
        sub(copy, t("DateTimeReceived"), fmt_dt(utcnow()))
        received_by = sub(copy, t("ReceivedBy"))
        received_by.append(itm.mailbox_elem(t("Mailbox"), recipient.display_name, recipient.smtp))
        row = self.create_item(c, recipient, target.id, copy, attachments=attachments, fresh=True)
        self._attend(c, recipient, copy)
        if target.distinguished == "inbox":
            return rules.run(self, c, recipient, row, by_rule=by_rule) or row
        return row

    def _attend(self, c: sqlite3.Connection, recipient: Mailbox, elem: Element) -> None:
        """What Exchange's Calendar Attendant does when a meeting message arrives: a
        cancellation marks the recipient's meeting of its UID cancelled, a response records
        the responder's answer on the organizer's meeting ("Calendar Attendant", the
        "Calendaring in Exchange" pages; the README's "Delivery")."""
        kind = etree.QName(elem).localname
        uid = text_of(elem, "UID")
        if kind not in ("MeetingCancellation", "MeetingResponse") or not uid:
            return
        calendar = self.store.distinguished_folder(recipient.id, "calendar")
        meetings = [
            row
            for row in (self.store.items_in_folder(calendar.id) if calendar else [])
            if row.kind == "CalendarItem" and text_of(parse_xml(row.xml), "UID") == uid
        ]
        if kind == "MeetingCancellation":
            for row in meetings:
                self.change_item(c, row, _cancelled)
            return
        sender = child(elem, "From")
        responder = (text_of(child(sender, "Mailbox"), "EmailAddress") or "").lower()
        response = text_of(elem, "ResponseType")
        if not responder or response is None:
            return
        for row in meetings:
            self.change_item(c, row, functools.partial(_record_response, responder, response))

    def deliver_message(
        self,
        c: sqlite3.Connection,
        recipient: Mailbox,
        elem: Element,
        attachments: list[Element],
        *,
        by_rule: bool = False,
    ) -> None:
        """Deliver a sent message `delivery_delay` seconds later, as Exchange's transport
        does (the recipients' copies are not there when CreateItem or SendItem answers);
        with a delay of 0, within the send's own transaction."""
        xml = etree.tostring(elem)
        attached = [etree.tostring(a) for a in attachments]

        def deliver(conn: sqlite3.Connection) -> None:
            self.deliver(
                conn,
                recipient,
                parse_xml(xml),
                attachments=[parse_xml(a) for a in attached],
                by_rule=by_rule,
            )

        self.later(c, deliver)

    def later(self, c: sqlite3.Connection, action: Delivery) -> None:
        """Run `action` (what transport and the Calendar Attendant do at a recipient's
        mailbox: put a copy in, update its calendar) in a write transaction of its own
        `delivery_delay` seconds after the sending transaction commits; nothing if that
        rolls back. With a delay of 0, at once within the sending transaction. `action`
        must hold no rows read now: it reads what it changes when it runs."""
        if self.delivery_delay <= 0:
            action(c)
            return

        def enqueue() -> None:
            with self._queue:
                due = time.monotonic() + self.delivery_delay
                heapq.heappush(self._queued, (due, next(self._queue_numbers), action))
                if self._worker is None:
                    self._worker = threading.Thread(
                        target=self._deliver_forever, name="delivery", daemon=True
                    )
                    self._worker.start()
                self._queue.notify()

        self.store.after_commit(enqueue)

    def _deliver_forever(self) -> None:
        while True:
            with self._queue:
                while not self._queued or self._queued[0][0] > time.monotonic():
                    wait = self._queued[0][0] - time.monotonic() if self._queued else None
                    self._queue.wait(wait)
                _, _, action = heapq.heappop(self._queued)
                self._running += 1
            try:
                self._run(action)
            finally:
                with self._queue:
                    self._running -= 1
                    self._queue.notify_all()

    def _run(self, action: Delivery) -> None:
        try:
            with self.store.write() as conn:
                action(conn)
        except Exception:  # a recipient gone meanwhile: transport would bounce it
            log.exception("a delivery failed")

    def pending(self) -> int:
        """Deliveries sent and not made yet (this process's)."""
        with self._queue:
            return len(self._queued) + self._running

    def flush(self) -> None:
        """Make every queued delivery now (the process is stopping: nothing sent is lost)."""
        while True:
            with self._queue:
                if not self._queued:
                    return
                _, _, action = heapq.heappop(self._queued)
            self._run(action)

    def recipients(self, elem: Element, *tags: str) -> list[Mailbox]:
        """Emulator mailboxes among the recipients of a message or meeting."""
        found: dict[int, Mailbox] = {}
        for tag in tags:
            holder = child(elem, tag)
            for mb in holder.iter(t("Mailbox")) if holder is not None else []:
                email = text_of(mb, "EmailAddress")
                target = self.store.mailbox(email) if email else None
                if target is not None and target.has_mailbox:
                    found[target.id] = target
        return list(found.values())


def _cancelled(elem: Element) -> set[str]:
    for old in children(elem, "IsCancelled"):
        elem.remove(old)
    sub(elem, t("IsCancelled"), "true")
    subject = child(elem, "Subject")
    if subject is not None and not (subject.text or "").startswith("Canceled:"):
        subject.text = f"Canceled: {subject.text or ''}"
    return {"IsCancelled", "Subject"}


def _record_response(responder: str, response: str, elem: Element) -> set[str]:
    """The responder's ResponseType and LastResponseTime on the organizer's meeting."""
    for att in elem.iter(t("Attendee")):
        if (text_of(child(att, "Mailbox"), "EmailAddress") or "").lower() != responder:
            continue
        for old in children(att, "ResponseType") + children(att, "LastResponseTime"):
            att.remove(old)
        sub(att, t("ResponseType"), response)
        sub(att, t("LastResponseTime"), fmt_dt(utcnow()))
    return {"RequiredAttendees", "OptionalAttendees", "Resources"}
