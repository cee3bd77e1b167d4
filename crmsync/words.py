"""Counts in words: "1 mailbox", "2 mailboxes", "1 item processed"."""


def count(number: int, one: str, many: str = "") -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"
