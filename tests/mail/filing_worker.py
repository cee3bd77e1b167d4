"""A worker process that pulls one mailbox's mail once: the concurrency tests start two.

    python -m tests.mail.filing_worker MAILBOX_ID GATE_FILE

It sets Django up, prints "ready", waits until GATE_FILE exists (so that both workers start
filing at the same moment), runs `process_incoming` and prints the result as JSON. The
database and media folder come from the environment the test passes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    mailbox_id, gate = int(sys.argv[1]), Path(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crmsync.settings")
    import django

    django.setup()
    from mailboxes.mail.cycle import process_incoming
    from mailboxes.models import Mailbox

    mailbox = Mailbox.objects.select_related("profile", "user", "queue").get(pk=mailbox_id)
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not gate.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the gate never opened")
        time.sleep(0.002)
    result = process_incoming(mailbox)
    print(json.dumps({"filed": result.filed, "linked": result.linked, "failed": result.failed}))


if __name__ == "__main__":
    main()
