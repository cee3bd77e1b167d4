"""Stored files that no row references: removed after a grace period.

Attachments and raw MIME are written to storage before their rows (`mailboxes/mail/batch.py`
writes a batch's files, then its rows in one transaction). A process killed in between
leaves files no row names. `delete_orphan_files` (a beat task, daily) removes those older
than `GRACE`, which is far longer than any batch takes, so a file whose row is still being
written is never touched. Only the folders the models upload to are looked at; anything
else under MEDIA_ROOT is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.apps import apps
from django.core.files.storage import Storage, default_storage
from django.db import models
from django.utils import timezone

logger = logging.getLogger(__name__)

GRACE = timedelta(days=1)
# Names looked up per query.
CHUNK = 500


def file_fields() -> list[tuple[type[models.Model], str]]:
    """(model, field name) of every file field of the installed models."""
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.FileField)
    ]


def upload_folders() -> set[str]:
    """The top folders the file fields upload to ("attachments", "raw-mime", ...)."""
    folders = set()
    for model, name in file_fields():
        upload_to = model._meta.get_field(name).upload_to  # type: ignore[union-attr]
        if isinstance(upload_to, str) and upload_to.strip("/"):
            folders.add(upload_to.strip("/").split("/")[0])
    return folders


def _walk(storage: Storage, folder: str) -> Iterator[str]:
    if not storage.exists(folder):
        return
    subfolders, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}"
    for sub in subfolders:
        yield from _walk(storage, f"{folder}/{sub}")


def _referenced(names: list[str]) -> set[str]:
    found: set[str] = set()
    for model, field in file_fields():
        rows = model._default_manager.filter(**{f"{field}__in": names})
        found.update(rows.values_list(field, flat=True))
    return found


def delete_orphan_files(*, storage: Storage | None = None, grace: timedelta = GRACE) -> int:
    """Remove the stored files older than `grace` that no row references; how many."""
    storage = storage or default_storage
    cutoff = timezone.now() - grace
    old = [
        name
        for folder in sorted(upload_folders())
        for name in _walk(storage, folder)
        if storage.get_modified_time(name) < cutoff
    ]
    deleted = 0
    for start in range(0, len(old), CHUNK):
        chunk = old[start : start + CHUNK]
        for name in sorted(set(chunk) - _referenced(chunk)):
            storage.delete(name)
            deleted += 1
    if deleted:
        logger.info("deleted %s stored file(s) that no row references", deleted)
    return deleted
