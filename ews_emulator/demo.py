"""Seeds the demo's EWS emulator with items in Alice's, Bob's and Carol's mailboxes, once
(Carol's is synced over the emulator's Microsoft Graph).

Run by scripts/demo after the emulator starts: `python -m ews_emulator.demo EWS_URL`.
Besides generated appointments, contacts, tasks and mail, it delivers mail from the CRM
contacts of `manage.py seed_demo` (tracked under the default tracking option, "from contacts,
accounts and users"), one from a stranger (left out: the mailbox page's "why was this not
tracked?" finds it), and makes folders under the Inbox to pick as tracking folders.
"""

import sys
import time
import urllib.error
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials
from exchangelib.folders import Folder
from exchangelib.version import EXCHANGE_2016, Version

from ews_emulator.control import ControlClient, ControlError

DEMO_ITEMS = {
    "alice@example.com": {"calendar": 8, "contacts": 6, "tasks": 4, "messages": 5},
    "bob@example.com": {"calendar": 4, "contacts": 3, "tasks": 2, "messages": 2},
    # Carol's mailbox is on the demo's Microsoft 365 profile: synced over Graph.
    "carol@example.com": {"calendar": 3, "contacts": 2, "tasks": 2, "messages": 2},
}
# (mailbox, sender, subject, body): senders are seed_demo's contacts, or a stranger.
DEMO_MAIL = [
    (
        "alice@example.com",
        "Carla Conti <carla@contoso.example>",
        "Contoso: agenda for the quarterly review",
        "Hi Alice,\n\nhere is what we would like to cover next week.\n\nCarla",
    ),
    (
        "alice@example.com",
        "Carla Conti <carla@contoso.example>",
        "Contoso: updated price list",
        "Hi Alice,\n\nthe new prices apply from next month.\n\nCarla",
    ),
    (
        "alice@example.com",
        "Newsletter <news@deals.example>",
        "This week's deals",
        "Not from a CRM contact: not tracked under the default tracking option.",
    ),
    (
        "bob@example.com",
        "Frank Fischer <frank@fabrikam.example>",
        "Fabrikam: questions on the proposal",
        "Hi Bob,\n\ntwo questions on the proposal you sent.\n\nFrank",
    ),
    (
        "carol@example.com",
        "Carla Conti <carla@contoso.example>",
        "Contoso: moving to Microsoft 365",
        "Hi Carol,\n\nthis one reached you through Microsoft Graph.\n\nCarla",
    ),
    (
        "support@example.com",
        "Frank Fischer <frank@fabrikam.example>",
        "Fabrikam: cannot sign in",
        "Hello support,\n\nsince this morning I cannot sign in.\n\nFrank",
    ),
]
# Folders made under each user's Inbox (a path per entry), to pick as tracking folders.
DEMO_FOLDERS = {
    "alice@example.com": ["Customers", "Customers/Contoso", "Receipts"],
    "bob@example.com": ["Customers", "Customers/Fabrikam"],
}


def wait_until_up(control: ControlClient, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            control.health()
            return
        except (OSError, urllib.error.URLError, ControlError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def demo_message(mailbox: str, sender: str, subject: str, body: str, age: timedelta) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mailbox
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC) - age)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    message.set_content(body)
    return message.as_bytes()


def make_folders(ews_url: str, mailbox: str, password: str, paths: list[str]) -> None:
    config = Configuration(
        service_endpoint=ews_url,
        credentials=Credentials(mailbox, password),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
    )
    account = Account(mailbox, config=config, autodiscover=False, access_type=DELEGATE)
    made: dict[str, Folder] = {}
    for path in paths:
        parent_path, _, name = path.rpartition("/")
        folder = Folder(parent=made[parent_path] if parent_path else account.inbox, name=name)
        folder.save()
        made[path] = folder


def seed(ews_url: str, password: str = "secret") -> None:  # noqa: S107 - the demo's password
    control = ControlClient(ews_url)
    wait_until_up(control)
    for mailbox, counts in DEMO_ITEMS.items():
        if control.items(mailbox, "calendar"):
            continue  # seeded by an earlier run: the emulator keeps its state
        for kind, count in counts.items():
            control.seed(mailbox, kind, count)
        for n, (to, sender, subject, body) in enumerate(DEMO_MAIL):
            if to == mailbox or (to not in DEMO_ITEMS and mailbox == "alice@example.com"):
                control.deliver(to, demo_message(to, sender, subject, body, timedelta(hours=n)))
        make_folders(ews_url, mailbox, password, DEMO_FOLDERS.get(mailbox, []))
    print(f"EWS emulator ready at {ews_url} with demo items for {', '.join(DEMO_ITEMS)}.")


if __name__ == "__main__":
    seed(sys.argv[1])
