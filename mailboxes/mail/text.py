"""Turning the bytes and headers of real-world mail into clean text.

Mail in the wild declares charsets it does not use, uses none at all, or puts raw 8-bit bytes
in headers. Decoding never fails here: it tries the declared charset, then UTF-8, then
Windows-1252 (what most undeclared 8-bit mail is), and only then replaces bytes.
"""

from __future__ import annotations

import codecs
import re
from email.header import decode_header

# Names seen in real mail that Python's codec registry does not know.
_CHARSET_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "iso-8859-8-i": "iso-8859-8",
    "x-user-defined": "",
    "unknown-8bit": "",
    "x-unknown": "",
    "unknown": "",
    "default": "",
    # "us-ascii" mail often carries 8-bit bytes anyway: treat it as undeclared.
    "ansi_x3.4-1968": "",
    "us-ascii": "",
    "ascii": "",
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac-roman",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "windows-874": "cp874",
}


def normalize_charset(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode, never failing. Returns the text and a note when the declared charset was wrong."""
    declared = normalize_charset(charset)
    for candidate in (declared, "utf-8", "cp1252"):
        if candidate is None:
            continue
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        note = None
        if declared and candidate != declared:
            note = f"declared charset {charset!r} did not fit; decoded as {candidate}"
        return text, note
    return data.decode("latin-1"), f"undecodable text (charset {charset!r}); decoded as latin-1"


def clean(text: str, max_length: int | None = None) -> str:
    """Text a database accepts: no NUL, no lone surrogates, at most max_length characters."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    if max_length is not None and len(text) > max_length:
        text = text[:max_length]
    return text


def raw_header_text(value: str) -> str:
    """A header value as parsed from bytes (8-bit bytes kept as surrogates) to plain text."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    text, _note = decode_bytes(data, None)
    return text


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def decode_header_text(value: str | None) -> str:
    """Decode RFC 2047 encoded words and stray 8-bit bytes; unfold."""
    if not value:
        return ""
    text = raw_header_text(str(value))
    if "=?" in text and _ENCODED_WORD.search(text):
        try:
            pieces = decode_header(text)
        except Exception:  # a broken encoded word must not lose the header
            pieces = [(text, None)]
        parts = []
        for chunk, charset in pieces:
            if isinstance(chunk, bytes):
                decoded, _note = decode_bytes(chunk, charset)
                parts.append(decoded)
            else:
                parts.append(chunk)
        text = "".join(parts)
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())
