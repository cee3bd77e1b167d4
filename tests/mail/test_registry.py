"""The email registry: every server type a profile can have moves mail by one entry."""

from __future__ import annotations

import pytest

from mailboxes.mail.registry import PROTOCOLS, protocol_of
from profiles.models import EmailServerProfile


@pytest.mark.parametrize("server_type", EmailServerProfile.ServerType.values)
def test_every_server_type_has_an_email_protocol(server_type: str) -> None:
    protocol = protocol_of(server_type)

    assert protocol is PROTOCOLS[server_type]


def test_an_unknown_server_type_is_named_in_the_error() -> None:
    with pytest.raises(LookupError, match="carrier-pigeon"):
        protocol_of("carrier-pigeon")
