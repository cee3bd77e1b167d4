"""The email engine: parse, evaluate, correlate and file incoming mail; send outgoing mail.

Entry points (called by the sync cycle, or directly by tests):
- `mailboxes.mail.cycle.process_incoming(mailbox)` / `run_incoming(mailbox, ctx)`
- `mailboxes.mail.cycle.send_pending(mailbox)` / `run_outgoing(mailbox, ctx)`
- `mailboxes.mail.filing.MailFiler(mailbox).file(raw, source)` for one raw message,
  `.file_many(items)` for a fetched batch.
"""
