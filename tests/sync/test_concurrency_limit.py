"""EWSMaxConcurrency ("EWS throttling in Exchange"): an administrator may set a user's limit
of requests in progress below Exchange's default of 27, and the server then refuses the
request beyond it at once with ErrorServerBusy. The engine's initial sync of several pages
overlaps requests (the next page is fetched, and the last page's items marked, while a page
is written), and must still complete within a limit of two."""

from pathlib import Path

import pytest

from activities.models import Appointment
from ews_emulator.testing import run_emulator
from tests.sync.helpers import emulated_mailbox, sync

pytestmark = pytest.mark.django_db


def test_an_initial_sync_of_several_pages_completes_within_a_limit_of_two(
    tmp_path: Path,
) -> None:
    with run_emulator(tmp_path / "ews.db", users=[], extra_args=["--max-concurrency", "2"]) as ews:
        mailbox = emulated_mailbox(ews)
        ews.control.seed(mailbox.email_address, "calendar", 1300)

        sync(mailbox)

        assert Appointment.objects.filter(owner_user=mailbox.user).count() == 1300
        assert sync(mailbox).items_processed == 0
