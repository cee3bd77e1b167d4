"""Stored files that no row references are removed after the grace period; nothing else is."""

import os
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from activities.models import Attachment
from crmsync.orphan_files import GRACE, delete_orphan_files, upload_folders
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]


def _store(name: str, *, age_seconds: float) -> str:
    stored = default_storage.save(name, ContentFile(b"content"))
    moment = time.time() - age_seconds
    os.utime(default_storage.path(stored), (moment, moment))
    return stored


def test_the_models_upload_folders_are_the_ones_looked_at() -> None:
    assert {"attachments", "raw-mime", "processed"} <= upload_folders()


def test_an_old_file_no_row_names_is_removed_and_the_others_stay() -> None:
    old = GRACE.total_seconds() + 3600
    orphan = _store("attachments/2026/01/orphan.txt", age_seconds=old)
    kept = _store("raw-mime/2026/01/kept.eml", age_seconds=old)
    factories.make_email(raw_mime=kept)
    attached = _store("attachments/2026/01/attached.txt", age_seconds=old)
    factories.make_attachment(file=attached)
    recent = _store("processed/2026/01/recent.eml", age_seconds=60)
    elsewhere = _store("exports/old-report.csv", age_seconds=old)

    deleted = delete_orphan_files()

    assert deleted == 1
    assert not default_storage.exists(orphan)
    for name in (kept, attached, recent, elsewhere):
        assert default_storage.exists(name), name
    assert Attachment.objects.filter(file=attached).exists()


def test_nothing_to_do_without_stored_files() -> None:
    assert delete_orphan_files() == 0
