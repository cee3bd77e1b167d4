"""The Graph implementation of the connector seam for one mailbox (`MailboxConnector`):
the item connectors of `act.py`, `calendar.py`, `contacts.py` and `todo.py` over one
`GraphClient`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mailboxes.connectors.base import ItemKind, MarksRoom
from mailboxes.connectors.graph import limits
from mailboxes.connectors.graph.act import GraphItemConnector
from mailboxes.connectors.graph.calendar import GraphCalendarConnector
from mailboxes.connectors.graph.client import GraphClient
from mailboxes.connectors.graph.contacts import GraphContactConnector
from mailboxes.connectors.graph.todo import GraphTaskConnector
from mailboxes.connectors.settings import graph_settings

if TYPE_CHECKING:
    from mailboxes.models import Mailbox
    from mailboxes.sync.context import CycleContext

CONNECTORS: dict[str, type[GraphItemConnector]] = {
    "appointment": GraphCalendarConnector,
    "contact": GraphContactConnector,
    "task": GraphTaskConnector,
}
# What `test` opens for each well-known folder name.
TEST_PATHS = {"calendar": "calendar", "contacts": "contactFolders", "tasks": "todo/lists"}


class GraphMailboxConnector:
    """One mailbox over Microsoft Graph, for one sync cycle."""

    protocol: ClassVar[str] = "graph"

    def __init__(self, client: GraphClient) -> None:
        self.client = client
        self._items: dict[str, GraphItemConnector] = {}

    @classmethod
    def for_mailbox(
        cls, mailbox: Mailbox, ctx: CycleContext | None = None
    ) -> GraphMailboxConnector:
        return cls(GraphClient(graph_settings(mailbox.profile, mailbox)))

    def items(self, kind: ItemKind) -> GraphItemConnector:
        connector = self._items.get(kind.item_type)
        if connector is None:
            connector = self._items[kind.item_type] = CONNECTORS[kind.item_type](self.client, kind)
        return connector

    def test(self, folder_ids: Sequence[str]) -> None:
        for folder_id in folder_ids:
            path = TEST_PATHS.get(folder_id, f"contactFolders/{folder_id}")
            self.client.get(path, params={"$top": "1"})

    def room_for_marks(self) -> MarksRoom:
        """Three quarters of the mailbox's 10 minutes of requests, less what every worker
        spent of them (`limits`): the rest stays for the user's changes."""
        room = limits.room(self.client.settings.mailbox_address, share=limits.MARKS_SHARE)
        now = dt.datetime.now(dt.UTC)
        return MarksRoom(room.requests, now + dt.timedelta(seconds=room.frees_in))
