"""Who a message is filed for: the mailbox's owner, or, in a forward mailbox, the CRM user
who forwarded it (with what they forwarded)."""

from __future__ import annotations

from mailboxes.mail.entries import Target, UnknownForwarder
from mailboxes.mail.forward import forwarded_content
from mailboxes.mail.mime import ParsedMessage
from mailboxes.mail.parties import PartyResolver
from mailboxes.models import Mailbox
from users.models import User

TrackingOption = Mailbox.TrackingOption


def own_target(mailbox: Mailbox) -> Target:
    """The mailbox's owner (user or queue), under the mailbox's tracking option."""
    return Target(
        mailbox,
        mailbox.user_id,
        mailbox.queue_id,
        mailbox.email_address.lower(),
        mailbox.tracking_option,
    )


class Forwarders:
    """The forwarding users of one forward mailbox during one cycle (looked up once each)."""

    def __init__(self, mailbox: Mailbox, resolver: PartyResolver) -> None:
        self.mailbox = mailbox
        self.resolver = resolver
        self._users: dict[int, tuple[User | None, Mailbox | None]] = {}

    def target(self, outer: ParsedMessage) -> tuple[Target, ParsedMessage, bytes | None]:
        """The forwarding user, by the forward's From, and what they forwarded.

        The forwarding user's own mailbox decides what is tracked (its tracking option), as
        if the message had arrived there; a user without a mailbox has no option set, and
        everything they forward is tracked.
        """
        forwarder = outer.sender.address if outer.sender else ""
        user_id = self.resolver.resolve(forwarder).user_id if forwarder else None
        user, own_mailbox = self._user(user_id) if user_id else (None, None)
        if user is None:
            raise UnknownForwarder(
                f"forwarded by {forwarder or 'an unknown sender'}, who is not a CRM user: "
                "kept here for an administrator"
            )
        message, inner_raw = forwarded_content(outer)
        target = Target(
            mailbox=own_mailbox or self.mailbox,
            user_id=user.pk,
            queue_id=None,
            address=(own_mailbox.email_address if own_mailbox else user.email).lower(),
            tracking_option=own_mailbox.tracking_option if own_mailbox else TrackingOption.ALL,
        )
        return target, message, inner_raw

    def _user(self, user_id: int) -> tuple[User | None, Mailbox | None]:
        if user_id not in self._users:
            user = User.objects.filter(pk=user_id, is_active=True).first()
            own = Mailbox.objects.filter(user=user).first() if user is not None else None
            self._users[user_id] = (user, own)
        return self._users[user_id]
