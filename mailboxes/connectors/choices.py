"""How a protocol names the values of one CRM choice field (a busy status, a task's status
or priority, an attendee's role or response), both ways, for every protocol's converters.

    BUSY = ChoiceNames({BusyStatus.FREE: "free", ...}, default=BusyStatus.BUSY)
    BUSY.crm("Free")          # read: any case; missing or unknown → the default
    BUSY.name(BusyStatus.FREE)  # written as the protocol spells it
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChoiceNames:
    """`names`: CRM value → the protocol's name. A CRM value without a name (or unknown) is
    written as `unnamed`, or as the default's name when `unnamed` is ""."""

    names: Mapping[str, str]
    default: str
    unnamed: str = ""
    _by_name: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {name.lower(): value for value, name in self.names.items()}
        object.__setattr__(self, "_by_name", by_name)

    def crm(self, name: object) -> str:
        """The CRM value of a protocol's name, read in any case."""
        return self._by_name.get(str(name or "").lower(), self.default)

    def name(self, value: str) -> str:
        """The protocol's name of a CRM value."""
        return self.names.get(value) or self.unnamed or self.names[self.default]
