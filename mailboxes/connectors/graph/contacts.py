"""Contacts over Microsoft Graph: the default Contacts folder and the contact folders
below it, at any depth (the rest of the seam is `act.py`'s)."""

from __future__ import annotations

from typing import ClassVar

from mailboxes.connectors.base import FolderInfo
from mailboxes.connectors.graph.act import GraphItemConnector
from mailboxes.connectors.graph.converters.contacts import GraphContactConverter


class GraphContactConnector(GraphItemConnector):
    """Contacts: the default Contacts folder (`contacts`, `contacts/delta`) and the contact
    folders below it (`contactFolders/{id}/contacts`)."""

    extra_properties: ClassVar[tuple[str, ...]] = GraphContactConverter.extra_properties

    def collection(self, folder_id: str) -> str:
        if folder_id == self.kind.default_folder:
            return "contacts"
        return f"contactFolders/{folder_id}/contacts"

    def item_path(self, item_id: str) -> str:
        return f"contacts/{item_id}"

    def folders_below(self, folder_id: str) -> list[FolderInfo]:
        """Every contact folder below the folder, at any depth, level by level
        (`contactFolders` lists the folders in Contacts, `childFolders` those below)."""
        found: list[FolderInfo] = []
        level = [folder_id]
        while level:
            below: list[str] = []
            for parent in level:
                path = (
                    "contactFolders"
                    if parent == self.kind.default_folder
                    else f"contactFolders/{parent}/childFolders"
                )
                for entry in self.client.items(path, params={"$top": "100"}):
                    found.append(FolderInfo(str(entry["id"]), str(entry.get("displayName", ""))))
                    below.append(str(entry["id"]))
            level = below
        return found
