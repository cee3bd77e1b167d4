"""The REST API for activities, contacts and accounts (`/api/v1/`).

- Authentication: a token (`Authorization: Token <key>`, from `rest_framework.authtoken`) or
  the browser session (with CSRF on writes). Anonymous requests get 401.
- Visibility: a user sees, and may change, the records they own or that belong to a queue
  they own or are a member of; staff see all. Anything else answers 404.
- Lists: cursor pages (`cursor`, `page_size` up to 200, default 50; no total count),
  `ordering`, and filters per endpoint (owner, queue, mailbox, regarding_type/regarding_id,
  modified_since, start/end or due ranges, status, direction, search on the subject).
- Writes: appointments, tasks and contacts are created, updated and deleted with
  `change_origin="api"`, so the sync engine pushes them to Exchange; a delete marks the
  record's id mappings `from_crm_change_type="delete"`. `POST /emails/` queues an outgoing
  email ("pending send") in the caller's mailbox, or a queue's with `send_from_queue`.
- Concurrency: every record has an ETag (header and `etag` field). `If-Match` on PUT, PATCH
  or DELETE makes the change conditional (412 when stale); without it the change is applied
  (last writer wins), so simple scripts need no extra step. `If-None-Match` on a detail
  answers 304 while unchanged.
- Errors are JSON: 400 with the offending field names as keys, 404, 405, 409, 412, 415.
  A null character anywhere in a body or a query parameter is a 400 naming its place
  (`{"addresses.home.city": ["Null characters are not allowed."]}`); PostgreSQL stores none.
- Mailbox credentials never appear: a mailbox is shown only as its id.
- Attachments: each has a `download_url` (a path on this server) that answers the content
  as a download to the session or API token of someone who sees the record it belongs to.
"""
