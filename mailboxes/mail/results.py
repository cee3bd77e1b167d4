"""What one incoming or outgoing pass did, for the cycle's status fields and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailboxes.mail.filing import FilingOutcome, Outcome


@dataclass
class IncomingResult:
    fetched: int = 0
    filed: int = 0
    linked: int = 0
    irrelevant: int = 0
    too_old: int = 0
    failed: int = 0
    deleted_on_server: int = 0
    moved_to_undeliverable: int = 0
    regarding_reapplied: int = 0
    # The cycle stopped at its message limit: more is waiting on the server.
    more: bool = False
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: FilingOutcome) -> None:
        attribute = {
            Outcome.FILED: "filed",
            Outcome.LINKED: "linked",
            Outcome.IRRELEVANT: "irrelevant",
            Outcome.TOO_OLD: "too_old",
            Outcome.FAILED: "failed",
        }[Outcome(outcome.outcome)]
        setattr(self, attribute, getattr(self, attribute) + 1)
        if outcome.error:
            self.errors.append(outcome.error)

    @property
    def processed(self) -> int:
        return self.filed + self.linked + self.irrelevant + self.too_old + self.failed


@dataclass
class OutgoingResult:
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    # Found already in Sent Items after a worker died mid-send: marked sent, not sent again.
    found_already_sent: int = 0
    # SMTP without IMAP: may have gone out, nothing can tell; left for a person.
    uncertain: int = 0
    claimed_elsewhere: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.retry_later + self.found_already_sent + self.uncertain
