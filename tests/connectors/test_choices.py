"""`mailboxes/connectors/choices.py`: a protocol's names of a CRM choice field, both ways, as
the EWS and Graph converters use them."""

from __future__ import annotations

from activities.models import ActivityParty, Appointment, Task
from mailboxes.connectors.ews.converters import appointments as ews_appointments
from mailboxes.connectors.ews.converters import tasks as ews_tasks
from mailboxes.connectors.graph.converters import events as graph_events
from mailboxes.connectors.graph.converters import tasks as graph_tasks

Busy = Appointment.BusyStatus
Response = ActivityParty.Response


def test_a_name_is_read_in_any_case_and_a_missing_or_unknown_one_is_the_default() -> None:
    busy = graph_events.BUSY

    assert [busy.crm(n) for n in ("workingElsewhere", "WORKINGELSEWHERE", "oof")] == [
        Busy.WORKING_ELSEWHERE,
        Busy.WORKING_ELSEWHERE,
        Busy.OUT_OF_OFFICE,
    ]
    assert [busy.crm(n) for n in (None, "", "unknown")] == [Busy.BUSY] * 3


def test_a_value_is_written_as_the_protocol_spells_it() -> None:
    assert graph_events.BUSY.name(Busy.WORKING_ELSEWHERE) == "workingElsewhere"
    assert ews_appointments.BUSY.name(Busy.OUT_OF_OFFICE) == "OOF"
    assert graph_tasks.STATUS.name(Task.Status.WAITING) == "waitingOnOthers"
    assert ews_tasks.PRIORITY.name(Task.Priority.HIGH) == "High"


def test_a_value_without_a_name_is_written_as_unnamed_else_as_the_default() -> None:
    # EWS: an attendee who has not answered is "Unknown", which reads back as no response.
    assert ews_appointments.RESPONSE.name(Response.NONE) == "Unknown"
    assert ews_appointments.RESPONSE.crm("Unknown") == Response.NONE
    assert ews_appointments.RESPONSE.crm("NoResponseReceived") == Response.NONE
    assert graph_events.BUSY.name("not a status") == "busy"


def test_every_choice_of_a_field_has_a_name_in_both_protocols() -> None:
    for ews, graph, choices in (
        (ews_appointments.BUSY, graph_events.BUSY, Busy.values),
        (ews_tasks.STATUS, graph_tasks.STATUS, Task.Status.values),
        (ews_tasks.PRIORITY, graph_tasks.PRIORITY, Task.Priority.values),
    ):
        assert set(ews.names) == set(graph.names) == set(choices)
        assert all(ews.crm(ews.name(v)) == graph.crm(graph.name(v)) == v for v in choices)
