"""What a channel is: which mailboxes want it, where its status lives, what test & enable
opens for it. One definition, read by scheduling, the cycle, test & enable, the status
page, the listener and the admin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from mailboxes.lookups import choice_label, value_at
from mailboxes.models import Mailbox

Status = Mailbox.ChannelStatus


@dataclass(frozen=True)
class Channel:
    """One channel of a mailbox.

    `chosen` (what the mailbox asks for) and `requires` (what its mail server must be to
    offer the channel) are together the one definition of "this mailbox uses the channel":
    lookups (through relations with `__`, as Django writes them) and the values each may
    take. `wanted_q` turns it into a query for the scheduler, `wants` evaluates it on a
    loaded mailbox; both add "not failed" and "not postponed" from the channel's own status
    fields. A mailbox that chose a channel its server does not offer is told why
    (`unavailable`).
    """

    name: str
    label: str
    chosen: Mapping[str, tuple[str, ...]]
    status_field: str
    processed_at_field: str
    postpone_field: str
    # The EWS folders this channel reads on an Exchange profile: test & enable opens them,
    # and the push listener watches those of a channel fed by the server (`from_server`).
    ews_folders: tuple[str, ...]
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A change on the mail server is work for this channel, so a pushed change makes the
    # mailbox due (outgoing email's work comes from the CRM).
    from_server: bool = True

    @property
    def configured(self) -> Mapping[str, tuple[str, ...]]:
        return {**self.chosen, **self.requires}

    def configured_q(self) -> Q:
        return Q(**{f"{lookup}__in": values for lookup, values in self.configured.items()})

    def is_configured(self, mailbox: Mailbox) -> bool:
        return _holds(mailbox, self.configured)

    def unavailable(self, mailbox: Mailbox) -> str:
        """Why a channel the mailbox chose cannot run on its mail server, in plain words;
        "" when it can, or when the mailbox did not choose it."""
        if not _holds(mailbox, self.chosen):
            return ""
        for lookup, values in self.requires.items():
            value = value_at(mailbox, lookup)
            if value is None or value in values:
                continue
            offered = " or ".join(choice_label(lookup, v) for v in values)
            return (
                f"{self.label}: not available on {choice_label(lookup, value)} profiles, "
                f"only on {offered} profiles."
            )
        return ""

    def listened_q(self) -> Q:
        """Mailboxes whose server's changes the push listener watches for this channel."""
        return self.configured_q() & ~self.failed_q() if self.from_server else Q(pk__in=[])

    def is_listened(self, mailbox: Mailbox) -> bool:
        """The same as `listened_q`, on a loaded mailbox."""
        return (
            self.from_server
            and self.is_configured(mailbox)
            and self.status(mailbox) != Status.FAILURE
        )

    def failed_q(self) -> Q:
        return Q(**{self.status_field: Status.FAILURE})

    def wanted_q(self, now: datetime) -> Q:
        """Mailboxes that use the channel, where it has not failed and is not postponed."""
        not_postponed = Q(**{f"{self.postpone_field}__isnull": True}) | Q(
            **{f"{self.postpone_field}__lte": now}
        )
        return self.configured_q() & ~self.failed_q() & not_postponed

    def wants(self, mailbox: Mailbox, now: datetime) -> bool:
        """The same as `wanted_q`, on a loaded mailbox."""
        until = self.postponed_until(mailbox)
        return (
            self.is_configured(mailbox)
            and self.status(mailbox) != Status.FAILURE
            and (until is None or until <= now)
        )

    def status(self, mailbox: Mailbox) -> str:
        return str(getattr(mailbox, self.status_field))

    def processed_at(self, mailbox: Mailbox) -> datetime | None:
        value: datetime | None = getattr(mailbox, self.processed_at_field)
        return value

    def postponed_until(self, mailbox: Mailbox) -> datetime | None:
        value: datetime | None = getattr(mailbox, self.postpone_field)
        return value


def _holds(mailbox: Mailbox, lookups: Mapping[str, tuple[str, ...]]) -> bool:
    return all(value_at(mailbox, lookup) in values for lookup, values in lookups.items())
