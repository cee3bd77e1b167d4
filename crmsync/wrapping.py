"""Long values (addresses, ids, Message-IDs, error texts) wrap where a reader expects: after
"@", ".", "/", "_" and similar, never in the middle of a short word; a token with no such
place (a base64 Exchange id) gets a break chance every few characters.

Pages show them with `breakable` (HTML with `<wbr>` break chances, the text escaped) and
shorten long texts with `shortened` (the whole text in the element's title, on hover).
"""

from __future__ import annotations

import re

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

# After these a line may break: the parts of an address, a path, an id or a Message-ID.
_AFTER = re.compile(r"([@./_=+:;,&?<>|\\-])(?=\S)")
_MARK = "\x00"  # stands for <wbr> until the text is escaped
# A run longer than any word without a break chance gets one every CHUNK characters.
CHUNK = 24
_LONG_RUN = re.compile(r"[^\s\x00@./_=+:;,&?<>|\\-]{" + str(CHUNK + 1) + ",}")


def _chunked(match: re.Match[str]) -> str:
    run = match.group(0)
    return _MARK.join(run[i : i + CHUNK] for i in range(0, len(run), CHUNK))


def breakable(text: object) -> SafeString:
    """`text` escaped, with `<wbr>` where a long value may wrap."""
    value = str(text)
    marked = _LONG_RUN.sub(_chunked, _AFTER.sub(lambda m: m.group(1) + _MARK, value))
    return mark_safe(escape(marked).replace(_MARK, "<wbr>"))  # noqa: S308 - escaped above


def shortened(text: str, length: int = 80) -> SafeString:
    """The first line of `text` within `length` characters; when anything is left out, the
    whole text (up to 2,000 characters) is in the title, shown on hover."""
    whole = text.strip()
    first_line = whole.splitlines()[0] if whole else ""
    if len(first_line) <= length and first_line == whole:
        return breakable(first_line)
    short = first_line
    if len(first_line) > length:
        cut = first_line[: length - 1]
        # At a space when one is near the end: no word cut in half.
        head, space, _ = cut.rpartition(" ")
        short = (head if space and len(head) > length * 3 // 4 else cut) + "…"
    if short == first_line:
        short += " …"
    return format_html('<span title="{}">{}</span>', whole[:2000], breakable(short))
