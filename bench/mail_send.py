"""Send benchmark: N queued CRM emails over SMTP (aiosmtpd delivering into Dovecot
maildirs) by two worker processes, each draining its own mailbox's outbox. The profile is
IMAP + SMTP, so each send also leaves a receipt in the sender's INBOX and a copy in its
IMAP Sent folder (`mailboxes/connectors/smtp_imap.py`): the figures count both.

    python bench/mail_send.py [--quick] [--emails N] [--workers 2]

Progress goes to stderr; the figures are printed last, as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from bench._mailbench import Progress, setup_django, workdir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 emails instead of 1,000")
    parser.add_argument("--emails", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    total = args.emails or (200 if args.quick else 1000)
    workers = max(1, args.workers)

    setup_django(workdir())
    from django.db import connections

    from activities.models import ActivityParty, Email
    from mailboxes.models import Mailbox
    from mailboxes.sync.eligibility import approve
    from profiles.saving import create_profile
    from tests.servers import DovecotServer, SmtpServer
    from tests.servers.dovecot import PASSWORD
    from users.models import User

    dovecot = DovecotServer().start()
    smtp = SmtpServer(dovecot).start()
    try:
        profile = create_profile(
            name="bench-smtp",
            server_type="imap_smtp",
            incoming_server_location=dovecot.host,
            incoming_port=dovecot.imap_port,
            incoming_use_ssl=False,
            outgoing_server_location=smtp.host,
            outgoing_port=smtp.port,
            outgoing_use_ssl=False,
        )
        recipient = "customer@bench.test"
        dovecot.add_user(recipient)
        mailboxes = []
        for n in range(workers):
            address = f"sender{n}@bench.test"
            dovecot.add_user(address)
            user = User.objects.create_user(username=address, email=address)
            mailbox = Mailbox.objects.filter(user=user).first() or Mailbox.objects.create(
                user=user, email_address=address
            )
            mailbox.profile = profile
            mailbox.username = address
            mailbox.password = PASSWORD
            approve(mailbox)
            mailbox.save()
            mailboxes.append(mailbox)
        progress = Progress("queueing", total)
        for n in range(total):
            mailbox = mailboxes[n % workers]
            email = Email.objects.create(
                owner_user=mailbox.user,
                mailbox=mailbox,
                direction=Email.Direction.OUTGOING,
                status=Email.Status.PENDING_SEND,
                subject=f"Offer {n}",
                body_text="Dear customer,\n\nplease find our offer.\n" * 20,
            )
            ActivityParty.objects.create(email=email, role="to", address=recipient)
            progress.update()

        for alias in connections:
            connections[alias].close()
        started = time.perf_counter()
        children = []
        for mailbox in mailboxes:
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    from mailboxes.mail.cycle import send_pending

                    box = Mailbox.objects.select_related("profile", "user").get(pk=mailbox.pk)
                    while send_pending(box).processed:
                        pass
                except BaseException as exc:
                    print(f"worker failed: {exc!r}", file=sys.stderr)
                    code = 1
                finally:
                    os._exit(code)
            children.append(pid)
        progress = Progress("sending", total)
        done = 0
        while done < total:
            time.sleep(0.2)
            now_done = Email.objects.filter(status__in=["sent", "failed"]).count()
            progress.update(now_done - done)
            done = now_done
            if all(os.waitpid(pid, os.WNOHANG)[0] != 0 for pid in children) and done < total:
                break
        elapsed = time.perf_counter() - started
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sent = Email.objects.filter(status="sent").count()
        delivered = len(smtp.deliveries)
        message_ids = {
            d.data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]
            for d in smtp.deliveries
            if b"Message-ID: " in d.data
        }
        figures = {
            "benchmark": "mail_send",
            "emails": total,
            "workers": workers,
            "seconds": round(elapsed, 2),
            "emails_per_s": round(sent / elapsed, 1),
            "sent": sent,
            "delivered_by_smtp_server": delivered,
            "distinct_message_ids": len(message_ids),
            "failed": Email.objects.filter(status="failed").count(),
            "copies_in_sent": sum(
                _count(dovecot.maildir(m.email_address) / ".Sent") for m in mailboxes
            ),
            "receipts_left_in_inbox": sum(
                _count(dovecot.maildir(m.email_address)) for m in mailboxes
            ),
        }
    finally:
        smtp.stop()
        dovecot.stop()
    print(json.dumps(figures))


def _count(maildir: Path) -> int:
    return sum(
        1 for sub in ("cur", "new") if (maildir / sub).is_dir() for _ in (maildir / sub).iterdir()
    )


if __name__ == "__main__":
    main()
