"""Windows time-zone names ⇄ IANA names, for every protocol and the canonical forms.

Exchange (EWS and Graph) names time zones the Windows way ("W. Europe Standard Time"); the
CRM keeps IANA names. `windows_zones.json` is CLDR's windowsZones table as exchangelib 5
ships it (`exchangelib.winzone`; a test checks they agree), so a canonical name is the same
whichever protocol read the item.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_TABLE = Path(__file__).with_name("windows_zones.json")


@cache
def _maps() -> tuple[dict[str, str], dict[str, str]]:
    data = json.loads(_TABLE.read_text(encoding="utf-8"))
    return dict(data["iana_to_windows"]), dict(data["windows_to_iana"])


def windows_name(iana: str) -> str | None:
    """The Windows name of an IANA zone ("Europe/Berlin" → "W. Europe Standard Time")."""
    return _maps()[0].get(iana)


def iana_name(windows: str) -> str | None:
    """The IANA zone CLDR gives for a Windows name (its territory "001")."""
    return _maps()[1].get(windows)


def canonical_tz(tz_name: str | None) -> str:
    """One name per Exchange time zone, so a round trip through Windows names is stable."""
    if not tz_name or tz_name in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return "UTC" if tz_name else ""
    windows = windows_name(tz_name)
    if windows is None:
        return tz_name
    return iana_name(windows) or tz_name
