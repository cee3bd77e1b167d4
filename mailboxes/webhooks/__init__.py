"""Push for Microsoft 365: Graph change notifications (webhooks) that make a mailbox's sync
run within seconds of a change (see README.md in this folder)."""
