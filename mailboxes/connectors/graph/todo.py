"""Tasks over Microsoft Graph: the default Microsoft To Do list, whose tasks carry the CRM
record id in crmsync's open extension (the rest of the seam is `act.py`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import quote

from mailboxes.connectors.base import (
    DeleteMode,
    FolderNotFoundError,
    ItemChange,
    ItemRef,
    Result,
    Saved,
)
from mailboxes.connectors.graph.act import (
    GraphItemConnector,
    raise_mailbox_wide,
    seam_error,
)
from mailboxes.connectors.graph.client import BatchRequest, BatchResponse
from mailboxes.connectors.graph.converters.common import Json
from mailboxes.connectors.graph.converters.tasks import (
    EXTENSION_EXPAND,
    EXTENSION_NAME,
    extension,
    extension_of,
    task_record_id,
)


class GraphTaskConnector(GraphItemConnector):
    """To Do tasks of the default list (the mailbox's Tasks folder). A todoTask has no
    extended properties: the record id (and the percent complete) is crmsync's open
    extension (`converters/tasks.py`), read and written as Graph documents open extensions
    ("Get open extension", "Create open extension", "Update open extension")."""

    carried: ClassVar[str] = "extensions"
    # The stamp EWS writes (a named property) cannot be read on a todoTask.
    reads_ews_stamp: ClassVar[bool] = False

    def expansion(self) -> str:
        return EXTENSION_EXPAND

    @property
    def only_stamp_listed(self) -> bool:
        return False  # the extension carries the CRM's percent complete too

    def record_id_of(self, resource: Json) -> int | None:
        return task_record_id(resource)

    def first_listing(self, folder_id: str, start: bool, stamps: bool) -> dict[str, Json] | None:
        """The extension holds the percent complete too: listed even when no record id is
        needed."""
        return self._listed(folder_id) if start else None

    def _list(self, folder_id: str) -> str:
        if folder_id != self.kind.default_folder:
            return folder_id
        if self._default_folder is None:
            for entry in self.client.items("todo/lists"):
                if entry.get("wellknownListName") == "defaultList":
                    self._default_folder = str(entry["id"])
                    break
            else:
                raise FolderNotFoundError("The mailbox has no default To Do list.", code="no_list")
        return self._default_folder

    def collection(self, folder_id: str) -> str:
        return f"todo/lists/{self._list(folder_id)}/tasks"

    def item_path(self, item_id: str) -> str:
        return f"{self.collection(self.kind.default_folder)}/{item_id}"

    def delete_request(self, item_id: str, mode: DeleteMode) -> tuple[str, str]:
        return "DELETE", self.item_path(item_id)  # To Do has no other deletion

    def find_stamped(self, folder_id: str, record_ids: Sequence[int]) -> dict[int, ItemRef]:
        """The list's tasks carrying these record ids: one listing of the tasks with
        crmsync's extension (a $filter on an extension's data is not documented)."""
        wanted = set(record_ids)
        found: dict[int, ItemRef] = {}
        for item_id, carried in self._listed(folder_id).items():
            record_id = task_record_id(carried)
            if record_id in wanted and record_id is not None:
                found.setdefault(record_id, ItemRef(item_id, ""))
        return found

    def stamp(self, items: Sequence[tuple[ItemRef, int]]) -> list[Result]:
        """Give each task crmsync's extension with its record id: created on the task, or,
        when the task has one already (409), updated with its other data kept."""
        answers = self.client.batch(
            [
                BatchRequest(
                    str(n), "POST", f"{self.item_path(r.id)}/extensions", body=extension(rid, None)
                )
                for n, (r, rid) in enumerate(items)
            ]
        )
        again = [n for n, a in enumerate(answers) if a.status == 409]
        if again:
            answers = [*answers]
            for n, answer in self._restamp([(n, *items[n]) for n in again]).items():
                answers[n] = answer
        results: list[Result] = []
        for answer, (ref, _) in zip(answers, items, strict=True):
            error = self.client.error_of(answer, self.item_path(ref.id))
            # The extension's answer has no change key of the task: the next read brings it.
            results.append(Saved(ref.id, "") if error is None else seam_error(error))
        raise_mailbox_wide(results)
        return results

    def _restamp(self, items: Sequence[tuple[int, ItemRef, int]]) -> dict[int, BatchResponse]:
        """Give tasks that have crmsync's extension already this record id: an update
        replaces the extension's data, so the data it holds (the percent complete) is read
        first and sent again."""
        paths = {n: f"{self.item_path(ref.id)}/extensions/{EXTENSION_NAME}" for n, ref, _ in items}
        read = self.client.batch([BatchRequest(str(n), "GET", paths[n]) for n, _, _ in items])
        held = {
            int(a.id): {k: v for k, v in a.body.items() if not k.startswith("@") and k != "id"}
            for a in read
            if a.ok and isinstance(a.body, dict)
        }
        writes = [
            BatchRequest(
                str(n),
                "PATCH",
                paths[n],
                body={**held.get(n, {}), **extension(record_id, None)},
            )
            for n, _, record_id in items
        ]
        return {int(a.id): a for a in self.client.batch(writes)}

    def update(self, changes: Sequence[ItemChange], *, notify: bool) -> list[Result]:
        """As for other items, and crmsync's extension is written before the task when the
        percent complete it holds changes (an update of the task cannot carry it), so that
        the task's answer has its last change key."""
        if not changes:
            return []
        results, todo = self.current(changes, f"?$select=id&$expand={quote(EXTENSION_EXPAND)}")
        writes: list[BatchRequest] = []
        for n, change, body in todo:
            seen = extension_of(body)
            percent = change.canonical["percent_complete"]
            if seen is not None and seen.get("percentComplete") == percent:
                continue
            path = f"{self.item_path(change.ref.id)}/extensions"
            if seen is None:
                writes.append(BatchRequest(str(n), "POST", path, body=extension(None, percent)))
            else:
                # An update replaces the extension's data: the record id is sent again.
                body = extension(task_record_id({"extensions": [seen]}), percent)
                writes.append(BatchRequest(str(n), "PATCH", f"{path}/{EXTENSION_NAME}", body=body))
        for request, answer in zip(writes, self.client.batch(writes), strict=True):
            error = self.client.error_of(answer, request.url)
            if error is not None:
                results[int(request.id)] = seam_error(error)
        return self.patch(changes, results, [(n, c) for n, c, _ in todo if n not in results])
