"""Seeds the demo's EWS emulator with a few items in Alice's and Bob's mailboxes, once.

Run by scripts/demo after the emulator starts: `python -m crmsync.demo_exchange EWS_URL`.
"""

import sys
import time
import urllib.error

from ews_emulator.control import ControlClient, ControlError

DEMO_ITEMS = {
    "alice@example.com": {"calendar": 8, "contacts": 6, "tasks": 4, "messages": 5},
    "bob@example.com": {"calendar": 4, "contacts": 3, "tasks": 2, "messages": 2},
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


def seed(ews_url: str) -> None:
    control = ControlClient(ews_url)
    wait_until_up(control)
    for mailbox, counts in DEMO_ITEMS.items():
        if control.items(mailbox, "calendar"):
            continue  # seeded by an earlier run: the emulator keeps its state
        for kind, count in counts.items():
            control.seed(mailbox, kind, count)
    print(f"EWS emulator ready at {ews_url} with demo items for {', '.join(DEMO_ITEMS)}.")


if __name__ == "__main__":
    seed(sys.argv[1])
