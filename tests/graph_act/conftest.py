"""The Graph emulator's session fixtures (one emulator serving EWS, Graph and Entra ID)."""

from tests.graph_emulator.conftest import (  # noqa: F401
    ews_account,
    graph,
    graph_token,
    new_mailbox,
    tenant,
    trusting_exchangelib,
)
