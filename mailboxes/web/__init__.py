"""Self-service pages: a user's own mailbox and the mailboxes of the queues they own."""
