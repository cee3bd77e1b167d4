"""The one claim protocol (`mailboxes.claims`), on both kinds of row that use it: a mailbox
held for its cycle (`scheduling.MAILBOX_CLAIM`) and an email held while it is sent
(`outgoing.SEND_CLAIM`)."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from activities.models import Email
from mailboxes.claims import ClaimColumns, new_token
from mailboxes.mail.outgoing import SEND_CLAIM
from mailboxes.models import Mailbox
from mailboxes.sync.scheduling import MAILBOX_CLAIM
from tests import factories

pytestmark = pytest.mark.django_db


def _mailbox() -> QuerySet[Mailbox]:
    return Mailbox.objects.filter(pk=factories.make_mailbox().pk)


def _email() -> QuerySet[Email]:
    return Email.objects.filter(pk=factories.make_email(direction=Email.Direction.OUTGOING).pk)


KINDS: list[tuple[ClaimColumns, Callable[[], QuerySet[Model]]]] = [
    (MAILBOX_CLAIM, _mailbox),
    (SEND_CLAIM, _email),
]


@pytest.fixture(params=KINDS, ids=["mailbox", "email"])
def kind(request: pytest.FixtureRequest) -> tuple[ClaimColumns, QuerySet[Model]]:
    columns, make = request.param
    return columns, make()


def test_a_free_row_is_won_once(kind: tuple[ClaimColumns, QuerySet[Model]]) -> None:
    columns, row = kind
    now = timezone.now()
    first, second = new_token(), new_token()

    assert columns.take(row, first, now) == 1
    assert columns.take(row, second, now + timedelta(seconds=1)) == 0
    assert row.filter(columns.held_q(now)).values_list(columns.holder, flat=True).get() == first


def test_a_dead_holders_claim_expires_and_its_renewal_then_fails(
    kind: tuple[ClaimColumns, QuerySet[Model]],
) -> None:
    columns, row = kind
    start = timezone.now()
    dead, live = new_token(), new_token()
    columns.take(row, dead, start)
    later = start + timedelta(seconds=columns.seconds() + 1)

    assert row.filter(columns.free_q(later)).exists()
    assert columns.take(row, live, later) == 1
    assert not columns.renew(row, dead, later)
    assert columns.renew(row, live, later)


def test_renewing_keeps_the_claim_past_its_first_expiry(
    kind: tuple[ClaimColumns, QuerySet[Model]],
) -> None:
    columns, row = kind
    start = timezone.now()
    token = new_token()
    columns.take(row, token, start)
    third = timedelta(seconds=columns.seconds() / 3)

    for n in range(1, 6):
        assert columns.renew(row, token, start + n * third)

    assert columns.take(row, new_token(), start + 6 * third) == 0


def test_only_the_holder_releases_and_writes_with_the_release(
    kind: tuple[ClaimColumns, QuerySet[Model]],
) -> None:
    columns, row = kind
    now = timezone.now()
    token = new_token()
    columns.take(row, token, now)

    assert columns.release(row, new_token()) == 0
    assert columns.release(row, token) == 1
    assert row.filter(columns.free_q(now)).exists()
    assert row.values_list(columns.holder, flat=True).get() == ""


def test_hand_over_swaps_a_live_claim_only() -> None:
    row = _mailbox()
    now = timezone.now()
    queued, worker = new_token("queued@"), new_token()
    MAILBOX_CLAIM.take(row, queued, now)

    assert MAILBOX_CLAIM.hand_over(row, "someone-else", worker, now) == 0
    assert MAILBOX_CLAIM.hand_over(row, queued, worker, now) == 1
    # A late duplicate of the queue message finds its token gone.
    assert MAILBOX_CLAIM.hand_over(row, queued, new_token(), now) == 0
    expired = now + timedelta(seconds=MAILBOX_CLAIM.seconds() + 1)
    assert MAILBOX_CLAIM.hand_over(row, worker, new_token(), expired) == 0


def test_tokens_name_the_worker_and_are_new_each_time() -> None:
    first, second = new_token("queued@"), new_token("queued@")
    assert first != second
    assert first.startswith("queued@") and ":" in first


def test_hand_over_by_a_condition_on_the_holder_swaps_only_matching_live_claims() -> None:
    row = _mailbox()
    now = timezone.now()
    queued = Q(claimed_by__startswith="queued@")
    MAILBOX_CLAIM.take(row, new_token("queued@"), now)

    worker = new_token()
    assert MAILBOX_CLAIM.hand_over(row, queued, worker, now) == 1
    # A worker's claim is not a dispatcher's: nothing matches any more.
    assert MAILBOX_CLAIM.hand_over(row, queued, new_token(), now) == 0
    assert row.values_list("claimed_by", flat=True).get() == worker
