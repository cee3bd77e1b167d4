"""How Exchange names the values of the CRM's choice fields (a busy status, a task's status
or priority, an attendee's response) over EWS and over Graph: one table per field, one
`ChoiceNames` per protocol made from it, read by that protocol's converters.

    EWS_BUSY.crm("oof")                  # read: any case; missing or unknown → the default
    GRAPH_BUSY.name(BusyStatus.FREE)     # written as the protocol spells it: "free"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from activities.models import ActivityParty, Appointment, Task


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


def by_protocol(
    names: Mapping[str, tuple[str, str]], *, default: str, unnamed: tuple[str, str] = ("", "")
) -> tuple[ChoiceNames, ChoiceNames]:
    """(EWS, Graph) from one table of CRM value → (its EWS name, its Graph name)."""
    ews, graph = (
        ChoiceNames({value: pair[n] for value, pair in names.items()}, default, unnamed[n])
        for n in (0, 1)
    )
    return ews, graph


Busy, Response = Appointment.BusyStatus, ActivityParty.Response

EWS_BUSY, GRAPH_BUSY = by_protocol(
    {
        Busy.FREE: ("Free", "free"),
        Busy.TENTATIVE: ("Tentative", "tentative"),
        Busy.BUSY: ("Busy", "busy"),
        Busy.OUT_OF_OFFICE: ("OOF", "oof"),
        Busy.WORKING_ELSEWHERE: ("WorkingElsewhere", "workingElsewhere"),
    },
    default=Busy.BUSY,
)
# No answer yet: EWS writes "Unknown" (and reads "NoResponseReceived" as none too); over
# Graph a response is read only, being the attendee's to give.
EWS_RESPONSE, GRAPH_RESPONSE = by_protocol(
    {
        Response.ORGANIZER: ("Organizer", "organizer"),
        Response.TENTATIVE: ("Tentative", "tentativelyAccepted"),
        Response.ACCEPTED: ("Accept", "accepted"),
        Response.DECLINED: ("Decline", "declined"),
    },
    default=Response.NONE,
    unnamed=("Unknown", ""),
)
EWS_TASK_STATUS, GRAPH_TASK_STATUS = by_protocol(
    {
        Task.Status.NOT_STARTED: ("NotStarted", "notStarted"),
        Task.Status.IN_PROGRESS: ("InProgress", "inProgress"),
        Task.Status.COMPLETED: ("Completed", "completed"),
        Task.Status.WAITING: ("WaitingOnOthers", "waitingOnOthers"),
        Task.Status.DEFERRED: ("Deferred", "deferred"),
    },
    default=Task.Status.NOT_STARTED,
)
EWS_PRIORITY, GRAPH_PRIORITY = by_protocol(
    {
        Task.Priority.LOW: ("Low", "low"),
        Task.Priority.NORMAL: ("Normal", "normal"),
        Task.Priority.HIGH: ("High", "high"),
    },
    default=Task.Priority.NORMAL,
)
